"""Demo step: make sure the standard library is loaded (idempotent)."""
from procedures.library_loader import load_library


def load_library_step(root, admin, progress=None) -> str:
    report = load_library()
    if report.problems:
        raise RuntimeError("; ".join(str(p) for p in report.problems))
    return f"标准文件库 {report.changes} 项载入,{report.unchanged} 项已存在"
