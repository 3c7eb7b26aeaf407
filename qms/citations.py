"""引用的显示 — citations as users read them.

Rules keep their citation in a short, stable form ("seed 001 三(二)7", "domain.md §6"); pages
and printed documents show the source document's title instead of a file name
(``rules/citations.toml``), e.g. "《关于进一步加强和改进机关党的建设的实施意见》三(二)7"."""
from __future__ import annotations

import re
import tomllib
from functools import cache
from pathlib import Path

_FILE = Path(__file__).with_name("rules") / "citations.toml"
_SEED = re.compile(r"seed\s*0*(\d{1,3})\s*")
_SEED_ALONE = re.compile(r"\bseeds?(?!\s*\d)\s*")


@cache
def _data() -> dict:
    return tomllib.loads(_FILE.read_text(encoding="utf-8"))


def cite(text: str | None) -> str:
    """A citation (or any text holding one) with seed numbers and notes named by their titles."""
    if not text:
        return text or ""
    data = _data()
    out = _SEED.sub(lambda m: data["seeds"].get(f"{int(m.group(1)):03d}", m.group(0)), str(text))
    out = _SEED_ALONE.sub("所依据的公开文件", out)  # "seed 未规定频次": the seeds as a whole
    for short, title in data["notes"].items():
        out = out.replace(short, title)
    return out
