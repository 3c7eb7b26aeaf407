"""规则目录 — every rule in force for an organisation, where it comes from, and where it acts.

Each app contributes the rules it keeps (``register``, called from its ``AppConfig.ready``):
``qms`` the organisation rules, the tree's shape and the event vocabulary; ``procedures`` the
obligations of the procedures in force and their record elements; ``workflows`` the dues and
the 民主评议 grades; ``audits`` the indicators, objectives, scoring and the annual statistics.
A provider yields ``Entry`` rows; this module adds the fidelity-audit rows each entry implements
(``qms/rules/fidelity.toml``) and finds the *inert* ones — a rule no code can make act (a number
no module reads, an event nobody records, a record element of a form no obligation uses).

``python manage.py rules --unit CODE --format json|csv|md`` prints the catalogue; it exits 1
when a rule is inert.
"""
from __future__ import annotations

import ast
import inspect
import json
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from functools import cache
from importlib import import_module
from pathlib import Path

from qms.models import Unit

#: kinds of rule, in the order the catalogue lists them, with their Chinese names
KINDS = {
    "frequency": "频次",
    "deadline": "期限",
    "event": "事件",
    "element": "记录要素",
    "quorum": "法定人数",
    "attendance": "应到人员",
    "person": "个人履责",
    "document": "体系文件",
    "record": "记录控制",
    "capa": "纠正措施",
    "threshold": "数量界限",
    "structure": "组织结构",
    "switch": "开关",
    "grade": "等次",
    "dues": "党费",
    "indicator": "指标",
    "objective": "目标",
    "score": "考核",
    "statistic": "统计",
}

#: how a rule acts, by where its code sits (module prefix → how); the first match wins
_HOW_BY_MODULE = (
    ("workflows.scheduler", "scheduler"),
    ("workflows.reminders", "reminder"),
    ("qms.structure", "warning"),
    ("audits.performance.indicators", "indicator"),
    ("audits.performance.annual", "statistic"),
    ("audits.performance.scoring", "score"),
    ("audits.performance.heatmap", "heatmap"),
    ("audits.internal", "programme"),
    ("", "guard"),
)

#: the enforcement words in Chinese (pages and docs/rules.md)
HOW = {
    "scheduler": "排期(应开展事项)",
    "reminder": "提醒",
    "warning": "结构提示",
    "guard": "办理时拦截",
    "indicator": "指标",
    "statistic": "年度统计",
    "score": "考核计分",
    "programme": "审核方案",
    "heatmap": "热力图分档",
    "event": "事件触发",
    "record": "记录检查",
    "people": "个人履责统计",
}

ORIGINS = {"library": "标准文件库", "override": "本组织覆盖", "default": "本系统默认"}

DEFAULT_MARK = "本系统默认"


@dataclass(frozen=True)
class Entry:
    """One rule in force: what it says, its value, its source, and where it acts."""

    key: str  # stable id, e.g. "rule:branch_min_full_members", "obligation:branch_general_meeting"
    kind: str  # one of KINDS
    title: str
    value: str
    source: str
    origin: str = "library"  # library | override | default
    origin_detail: str = ""  # which file / version / overriding organisation
    enforced: tuple[str, ...] = ()  # how it acts (keys of HOW)
    where: tuple[str, ...] = ()  # the code that makes it act (module or module.function)
    inert: str = ""  # why nothing can make it act ("" when something can)
    scope: str = ""  # the units it applies to, in words
    rows: tuple[str, ...] = field(default_factory=tuple)  # fidelity-audit rows it implements


Provider = Callable[[Unit, list[Unit]], Iterable[Entry]]
_PROVIDERS: list[Provider] = []


def register(provider: Provider) -> None:
    """An app adds the rules it keeps (called from ``AppConfig.ready``)."""
    if provider not in _PROVIDERS:
        _PROVIDERS.append(provider)


def origin_of(source: str, *, overridden_by: str | None = None, library: str = "") -> tuple[str, str]:
    """(origin, detail) for a rule: an organisation's override, this product's default (its
    source says 本系统默认 — the number, or part of it, is this product's choice), or the
    library's cited rule."""
    if overridden_by:
        return "override", overridden_by
    if DEFAULT_MARK in source:
        return "default", library
    return "library", library


# ---------------------------------------------------------------------- where a rule acts

_PACKAGES = ("qms", "procedures", "workflows", "audits", "api")
_SKIP_PARTS = {"migrations", "management", "tests"}
_SKIP_MODULES = {"qms.catalogue", "qms.demo", "procedures.demo", "workflows.demo", "audits.demo"}


@cache
def _constants() -> dict[str, frozenset[str]]:
    """Every string constant in the product's code (not migrations, commands, demos or this
    catalogue) → the modules it appears in. A rule key that appears nowhere is read by nothing."""
    root = Path(__file__).resolve().parent.parent
    out: dict[str, set[str]] = {}
    for pkg in _PACKAGES:
        for path in (root / pkg).rglob("*.py"):
            rel = path.relative_to(root).with_suffix("")
            if _SKIP_PARTS & set(rel.parts):
                continue
            module = ".".join(rel.parts).removesuffix(".__init__")
            if module in _SKIP_MODULES:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and 0 < len(node.value) <= 80:
                    out.setdefault(node.value, set()).add(module)
    # a data file names rules too (observers.toml: which rule switches the 列席 check): its string
    # values count as read by the modules that load the file (their code names the file)
    for pkg in _PACKAGES:
        for path in (root / pkg).rglob("*.toml"):
            loaders = out.get(path.name, set())
            if not loaders:
                continue
            for value in _strings(tomllib.loads(path.read_text(encoding="utf-8"))):
                out.setdefault(value, set()).update(loaders)
    return {k: frozenset(v) for k, v in out.items()}


def _strings(data) -> Iterable[str]:
    if isinstance(data, str):
        if 0 < len(data) <= 80:
            yield data
    elif isinstance(data, dict):
        for v in data.values():
            yield from _strings(v)
    elif isinstance(data, list):
        for v in data:
            yield from _strings(v)


@cache
def _prefixes() -> tuple[tuple[str, frozenset[str]], ...]:
    """The constants that are key prefixes ("term_years_"), with their modules."""
    return tuple((c, m) for c, m in _constants().items() if c.endswith("_") and len(c) > 3)


@cache
def readers(key: str) -> tuple[str, ...]:
    """The modules whose code names ``key`` (or a prefix of it ending in "_", as the
    ``term_years_`` rules are looked up by kind). The code does not change while the product
    runs, so each answer is kept."""
    found = set(_constants().get(key, ()))
    for const, modules in _prefixes():
        if key.startswith(const) and const != key:
            found |= modules
    return tuple(sorted(found))


def how_of(module: str) -> str:
    for prefix, how in _HOW_BY_MODULE:
        if module.startswith(prefix):
            return how
    return "guard"


def site(dotted: str, marker: str = "") -> str | None:
    """``dotted`` ("module.function") if that function exists and its code mentions ``marker``;
    None otherwise — a declared enforcement point the catalogue can check."""
    module, _, name = dotted.rpartition(".")
    try:
        fn = getattr(import_module(module), name)
    except (ImportError, AttributeError):
        return None
    if marker:
        try:
            code = inspect.getsource(inspect.unwrap(fn))
        except (OSError, TypeError):
            return None
        if marker not in code:
            return None
    return dotted


def checked_sites(*pairs: tuple[str, str]) -> tuple[str, ...]:
    """The declared (function, marker) sites that really exist."""
    return tuple(s for s in (site(d, m) for d, m in pairs) if s)


# ---------------------------------------------------------------------- fidelity rows

_FIDELITY = Path(__file__).with_name("rules") / "fidelity.toml"


@cache
def fidelity() -> dict[str, dict]:
    """The fidelity audit's rows (``qms/rules/fidelity.toml``): row id → status, the catalogue
    entries that implement it, who owns it when another part of the product will."""
    return tomllib.loads(_FIDELITY.read_text(encoding="utf-8"))["rows"]


def _rows_by_entry() -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for row_id, row in fidelity().items():
        for key in row.get("rules", ()):
            out.setdefault(key, []).append(row_id)
    return {k: tuple(v) for k, v in out.items()}


def _rows_for(key: str, by_entry: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    """Rows naming this entry, or a prefix of it ending in ":" (e.g. ``element:DJ-JL-01:``)."""
    rows = list(by_entry.get(key, ()))
    for name, ids in by_entry.items():
        if name.endswith(":") and key.startswith(name):
            rows.extend(ids)
    return tuple(dict.fromkeys(rows))


# ---------------------------------------------------------------------- the catalogue


def catalogue(unit: Unit) -> list[Entry]:
    """Every rule in force for ``unit`` and the organisations below it, in kind order."""
    units = list(unit.subtree().order_by("path"))
    by_entry = _rows_by_entry()
    out: dict[str, Entry] = {}
    for provider in _PROVIDERS:
        for e in provider(unit, units):
            if e.key in out:
                raise ValueError(f"规则目录中有重复的规则:{e.key}")
            if not e.source.strip():
                raise ValueError(f"规则 {e.key}({e.title})没有依据")
            if not e.inert and not e.enforced:
                e = replace(e, inert="没有任何功能读取这条规则")
            out[e.key] = replace(e, rows=_rows_for(e.key, by_entry))
    order = list(KINDS)
    return sorted(out.values(), key=lambda e: (order.index(e.kind) if e.kind in order else len(order), e.key))


def inert(entries: list[Entry]) -> list[Entry]:
    return [e for e in entries if e.inert]


def uncovered_rows(entries: list[Entry]) -> list[str]:
    """Rows of the fidelity audit that this product now implements (status not "— missing"
    and not owned elsewhere) but that no entry of ``entries`` names."""
    present = {r for e in entries for r in e.rows}
    out = []
    for row_id, row in fidelity().items():
        if row.get("owner") or row["status"] == "—":
            continue
        if row_id not in present:
            out.append(row_id)
    return out


def unknown_names(entries: list[Entry]) -> list[tuple[str, str]]:
    """(row, name) for every catalogue name a fidelity row gives that matches no entry."""
    keys = [e.key for e in entries]
    out = []
    for row_id, row in fidelity().items():
        for name in row.get("rules", ()):
            if name.endswith(":") and any(k.startswith(name) for k in keys) or name in keys:
                continue
            out.append((row_id, name))
    return out


# ---------------------------------------------------------------------- output

_COLUMNS = ("key", "rows", "kind", "title", "value", "source", "origin", "origin_detail", "enforced", "where", "inert", "scope")


def as_json(entries: list[Entry]) -> str:
    return json.dumps([asdict(e) for e in entries], ensure_ascii=False, indent=1)


def as_csv(entries: list[Entry]) -> str:
    from qms import exports

    rows = [["、".join(d[c]) if isinstance(d[c], list | tuple) else d[c] for c in _COLUMNS] for d in map(asdict, entries)]
    return exports.csv_text([_COLUMNS, *rows])


def _cell(text: str) -> str:
    return str(text).replace("|", "/").replace("\n", " ")


def as_markdown(unit: Unit, entries: list[Entry]) -> str:
    lines = [
        f"# 规则目录 — {unit.name}",
        "",
        "Generated by `python manage.py rules --unit " + unit.code + " --format md` (a test keeps this file",
        "current). Every rule in force for the organisation and the units below it: the fidelity-audit rows",
        "it implements (`docs/fidelity.md`), its kind, value, source, whether it is the library's, this",
        "product's default (本系统默认: a committee may change it freely) or the organisation's own, and",
        "where it acts. A rule nothing can make act is *inert*; the command exits 1 when there is one.",
        "",
        "| | 规则数 |",
        "|---|---|",
    ]
    for kind, label in KINDS.items():
        n = sum(1 for e in entries if e.kind == kind)
        if n:
            lines.append(f"| {label} ({kind}) | {n} |")
    n_inert = len(inert(entries))
    lines += [f"| **合计** | **{len(entries)}** |", "",
              f"来源:标准文件库 {sum(e.origin == 'library' for e in entries)} 条,本系统默认 "
              f"{sum(e.origin == 'default' for e in entries)} 条,本组织覆盖 {sum(e.origin == 'override' for e in entries)} 条;"
              f"无法生效(inert){n_inert} 条。", ""]
    for kind, label in KINDS.items():
        group = [e for e in entries if e.kind == kind]
        if not group:
            continue
        lines += [f"## {label} ({kind})", "", "| 规则 | 审查行 | 内容 | 值 | 依据 | 来源 | 生效方式 |", "|---|---|---|---|---|---|---|"]
        for e in group:
            how = "、".join(HOW.get(h, h) for h in e.enforced) or "—"
            if e.inert:
                how = f"**inert**:{e.inert}"
            origin = ORIGINS[e.origin] + (f"({e.origin_detail})" if e.origin_detail else "")
            lines.append(f"| `{e.key}` | {' '.join(e.rows) or '—'} | {_cell(e.title)} | {_cell(e.value)} | "
                         f"{_cell(e.source)} | {_cell(origin)} | {_cell(how)} |")
        lines.append("")
    return "\n".join(lines)


STATUS = {"✓": "correct", "◐": "partial", "✗": "wrong", "—": "missing"}
OWNERS = {"recruitment": "发展党员/换届/设立", "management": "管理体系"}


def fidelity_markdown(unit: Unit, entries: list[Entry]) -> str:
    """docs/fidelity.md: the audit's rows with their status then and now and the entries that
    implement them in ``unit``'s catalogue, counts at the top."""
    rows = fidelity()
    keys = {e.key: e for e in entries}

    def names(row: dict) -> str:
        found = []
        for name in row.get("rules", ()):
            found += [k for k in keys if k == name or (name.endswith(":") and k.startswith(name))]
        shown = found[:4]
        more = f" …(+{len(found) - 4})" if len(found) > 4 else ""
        return " ".join(f"`{k}`" for k in shown) + more

    main = {k: v for k, v in rows.items() if not k.startswith("5-")}
    form = {k: v for k, v in rows.items() if k.startswith("5-")}

    def count(group: dict, field: str) -> list[int]:
        return [sum(1 for r in group.values() if r[field] == s) for s in STATUS]

    lines = [
        "# Fidelity audit — re-checked",
        "",
        "The rule-by-rule audit of 2026-12-03 (`../shared/fidelity-audit.md` §1; 265 rows) with the status",
        "each row has now, and the rule-catalogue entries (`python manage.py rules`, `docs/rules.md`) that",
        f"implement it in the demo committee ({unit.name}). Generated from `qms/rules/fidelity.toml` by",
        "`python manage.py rules --write-doc`; a test keeps it current and fails when a row said to be",
        "implemented names no entry of the catalogue. Rows owned by another part of the product still being",
        "built are marked: 发展党员/换届/设立 (membership development, elections, setting up organisations) and",
        "管理体系 (cascaded objectives, 联系组, inspection campaigns, 考核 consequences, certification).",
        "",
        "| | rows | ✓ correct | ◐ partial | ✗ wrong | — missing |",
        "|---|---|---|---|---|---|",
    ]
    for label, group in (("main table (000–004 except 篇5)", main), ("004 篇5 annual statistics form", form), ("**total**", rows)):
        was, now = count(group, "was"), count(group, "status")
        cells = " | ".join(f"{a} → **{b}**" for a, b in zip(was, now, strict=True))
        lines.append(f"| {label} | {len(group)} | {cells} |")
    open_here = [k for k, r in rows.items() if r["status"] in ("✗", "—") and not r.get("owner")]
    owned = [k for k, r in rows.items() if r.get("owner") and r["status"] != "✓"]
    lines += [
        "",
        f"Wrong now: {sum(1 for r in rows.values() if r['status'] == '✗')}. Inert rules in the catalogue: "
        f"{len(inert(entries))}. Not yet complete and owned by the other parts: {len(owned)} rows. Missing and "
        f"not owned by another part: {len(open_here)} rows (listed with “—” and no owner below: staffing ratios,"
        " 学习教育, 表彰, 党组-level duties and other rules the product does not model yet).",
        "",
        "| # | seed § | rule (seed wording) | was | now | owner | catalogue entries | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for k, r in rows.items():
        lines.append(f"| {k} | {_cell(r['seed'])} | {_cell(r['rule'])} | {r['was']} | **{r['status']}** | "
                     f"{OWNERS.get(r.get('owner', ''), '')} | {names(r)} | {_cell(r.get('note', ''))} |")
    return "\n".join(lines)
