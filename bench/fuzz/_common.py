"""What every fuzz harness shares: Django set up on an in-memory SQLite database (no service
needed), and atheris coverage for the product modules a harness targets.

Django must be set up before ``qms.ledger`` can be imported (it imports the models), so the
harnesses instrument the target modules' functions after the import (``instrument``) rather
than through ``atheris.instrument_imports``."""
from __future__ import annotations

import os
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qms.settings")
os.environ["DATABASE_URL"] = "sqlite://:memory:"
os.environ.setdefault("QMS_LOG_LEVEL", "CRITICAL")


def setup() -> None:
    import django

    django.setup()


def instrument(*modules: types.ModuleType) -> None:
    """Replace every function defined in ``modules`` (and the methods of their classes) by
    its atheris-instrumented copy, so the fuzzer sees their branch coverage."""
    import atheris

    for mod in modules:
        for name, value in list(vars(mod).items()):
            if isinstance(value, types.FunctionType) and value.__module__ == mod.__name__:
                setattr(mod, name, atheris.instrument_func(value))
            elif isinstance(value, type) and value.__module__ == mod.__name__:
                for attr, member in list(vars(value).items()):
                    if isinstance(member, types.FunctionType):
                        setattr(value, attr, atheris.instrument_func(member))


def json_value(fdp, depth: int = 0):
    """A JSON-like value chosen by the fuzzer: None, bools, integers (beyond 64 bits too),
    floats (NaN and infinities too), any text (lone surrogates too), lists and string-keyed
    dicts, nested."""
    kind = fdp.ConsumeIntInRange(0, 8 if depth < 4 else 5)
    if kind == 0:
        return None
    if kind == 1:
        return fdp.ConsumeBool()
    if kind == 2:
        return fdp.ConsumeInt(fdp.ConsumeIntInRange(1, 12))
    if kind == 3:
        return fdp.ConsumeRegularFloat() if fdp.ConsumeBool() else fdp.ConsumeFloat()
    if kind in (4, 5):
        return fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 24))
    if kind == 6:
        return [json_value(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 4))]
    return {fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 8)): json_value(fdp, depth + 1)
            for _ in range(fdp.ConsumeIntInRange(0, 4))}
