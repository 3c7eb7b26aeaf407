"""Loaded with ``-p tests.mutmut_plugin`` by mutation runs (bench/mutation.py) that mutate a package
other than ``qms``. Celery's Django fixup puts the working directory first on ``sys.path`` when the
``qms`` package (its Celery app) is imported; in mutmut's working directory that holds the
unmutated copies, which would then shadow ``mutants/``. Importing the other packages first, from
``mutants/``, pins them there; ``qms`` comes last."""
import importlib

for _name in ("procedures", "workflows", "audits", "api", "qms"):
    importlib.import_module(_name)
