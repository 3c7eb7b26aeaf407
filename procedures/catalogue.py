"""The controlled documents in force, for the rule catalogue (``qms.catalogue``): each procedure
and the manual, with its version, who issued it and its periodic review."""
from __future__ import annotations

from collections.abc import Iterator

from procedures.rules import versions_in_force_many
from qms.catalogue import Entry, checked_sites
from qms.models import Unit

#: why each document is a controlled document at all
SOURCE = "seed 004 篇8:质量手册、程序文件、作业文件、记录表格;程序文件写明为什么、谁、做什么、怎么做、做到什么程度"


def document_rules(unit: Unit, units: list[Unit]) -> Iterator[Entry]:
    sites = checked_sites(("procedures.services.version_approve", "effective_on"))
    for version in versions_in_force_many(units):
        doc, owner = version.document, version.document.owner
        key = f"document:{doc.code}" + (f"@{owner.code}" if owner is not None else "")
        yield Entry(key=key, kind="document", title=f"{doc.title}({doc.get_kind_display()})",
                    value=f"现行版本 {version.label},每 {doc.review_months} 个月定期评审", source=SOURCE,
                    origin="override" if owner is not None else "library",
                    origin_detail=f"{owner.name}发布" if owner is not None else "",
                    enforced=("guard",) if sites else (), where=sites)
