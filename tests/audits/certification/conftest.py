"""The people of the small tree who act here: the 体系管理员 over the committee (``admin``) and the
书记 of 第一党支部 (``secretary``), as the staged imports' tests have them."""
from tests.imports_support import admin, secretary  # noqa: F401  (fixtures)
