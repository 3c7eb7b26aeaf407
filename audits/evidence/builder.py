"""认证证据包 builder — one PDF/A-3b and a ZIP with the original attachments and a manifest.

The PDF is made chapter by chapter (each chapter its own WeasyPrint documents, joined at the
end), so no single giant HTML is laid out. Page numbers are known without a second pass:
the table of contents has a fixed number of lines, so it is first laid out with placeholder
numbers to learn how many pages it takes; the chapters' parts are laid out unnumbered (in this
process or in worker processes, ``parts.py``) and, in order, each page is stamped with its
number and each chapter learns its first page; finally the contents are laid out again with
the real numbers (same lines → same length). Headings carry PDF bookmarks.

Memory is bounded by one part, not the pack: a chapter's long tables are cut into parts of
``PART_ROWS`` rows, each laid out as a document of its own (page numbers running on); every part
shares one FontConfiguration, and its pages are painted into PDF operators as soon as it is
laid out, so its layout is freed before the next part (``painted.py``). Tables use the fixed layout with ``<colgroup>`` widths
(``_head.html``): WeasyPrint's automatic layout measures every cell's min/max-content width first,
which for CJK text (a break opportunity after every character) was a quarter of the time.

Chapters follow ISO 9001 clauses 4–10, with one chapter per procedure under clause 8.
"""
from __future__ import annotations

import datetime as dt
import gc
import json
import os
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db.models import Count, Q
from django.template.loader import render_to_string
from django.utils import timezone

from audits.capa.models import OPEN_STATES, Nonconformity
from audits.certification.models import Certificate, ExternalFinding
from audits.evidence import charts
from audits.evidence import parts as laying
from audits.internal.models import Audit
from audits.review.models import ManagementReview
from procedures.models import DocumentVersion, VersionStatus
from qms import ledger
from qms.checksums import sha256_file
from qms.figures import member_counts
from qms.models import LedgerEntry, Position, Unit
from workflows.compliance import STATUS_LABELS, cell_status
from workflows.models import Attachment, Occurrence, State

HELD = (State.HELD, State.CHECKED, State.CLOSED)
FULL_RECORDS_PER_OBLIGATION = 2
NONE = "本期间无记录"

#: (percent, chapter); called with every part and every file zipped, so it doubles as the build's
#: heartbeat (qms/jobs.py). It may raise to stop the build (the pack is no longer this process's).
Progress = Callable[[int, str], None]


@dataclass
class PackResult:
    pdf_path: Path
    zip_path: Path
    pdf_sha256: str
    zip_sha256: str
    pages: int
    ledger_head: tuple[int, str]
    missing_attachments: list[str] = field(default_factory=list)
    chapters: list[tuple[str, int]] = field(default_factory=list)
    layout: laying.Layout | None = None  #: how many processes laid the parts out


@dataclass
class Chapter:
    title: str
    template: str
    context: dict
    first_page: int = 0
    pages: int = 0



#: Python's young-generation threshold while a pack is laid out (default 700).
LAYOUT_GC_THRESHOLD = 100_000


@contextmanager
def _collect_per_part() -> Iterator[None]:
    """Python's cyclic garbage collector, tuned for laying out a pack. WeasyPrint's boxes,
    styles and Pango layouts form reference cycles, and with the default thresholds the
    collector ran 32 full collections over three chapters (184 pages), each traversing every
    box still alive: a third to a half of the layout time (docs/benchmarks.md §4). While a pack
    is built the young generation's threshold is raised so collections are rare, and the
    builder collects once after each part of a chapter, when its layout has become garbage —
    memory stays bounded by one part. What is alive when the layout starts (Django, the pack's
    data for every chapter: tens of thousands of rows for a large tree) is frozen out of those
    collections (``gc.freeze``), so each one walks only what the layout made: collecting after
    each part while walking the pack's data too cost more than the collector's whole default
    schedule. The thresholds are put back, and the frozen objects unfrozen, afterwards."""
    old = gc.get_threshold()
    freeze = gc.get_freeze_count() == 0  # a process that froze objects itself keeps its own
    if freeze:
        gc.collect()
        gc.freeze()
    gc.set_threshold(LAYOUT_GC_THRESHOLD, 50, 1000)
    try:
        yield
    finally:
        gc.set_threshold(*old)
        if freeze:
            gc.unfreeze()


#: Rows of a long table per part. Each part of a chapter is laid out as a WeasyPrint document
#: of its own (page numbers stamped on afterwards, ``parts.py``), so memory is bounded by one part
#: — not by the longest chapter, which for a whole tree's year would be thousands of pages —
#: and WeasyPrint's per-page cost, which grows with the document, stays that of a short one.
#: A part ends with its page; the table goes on, with its header, on the next.
PART_ROWS = 1200
BODY_MARK = "<!--qms:body-->"  # end of the head every part repeats (_head.html)
PART_MARK = "<!--qms:part-->"  # between two slices of a long table (templates, ``parts`` filter)


def _html(template: str, context: dict, first_page: int | None = None) -> str:
    """A document of the pack; pages numbered from ``first_page``, or unnumbered without it."""
    return render_to_string(template, {**context, "first_page": first_page or "", "part_rows": PART_ROWS})


def _parts(template: str, context: dict) -> list[str]:
    """A chapter's HTML, unnumbered, cut at its part markers, each part a whole document with the head."""
    html = _html(template, context)
    head, mark, body = html.partition(BODY_MARK)
    return [head + mark + piece for piece in body.split(PART_MARK)] if mark else [html]


def _numbered(part: str, first_page: int) -> str:
    """The part as a document that numbers its own pages (what the benchmark's bare baseline lays out)."""
    return part.replace(render_to_string("audits/evidence/_page.html", {"first_page": ""}),
                        render_to_string("audits/evidence/_page.html", {"first_page": first_page}), 1)


def _lay_out(html: str, *, fonts=None):
    """Lay out one document. ``fonts`` is the pack's one ``FontConfiguration``: WeasyPrint makes a new
    one (a fontconfig set-up and a Pango font map, ~15 MiB) per document otherwise, kept alive by
    the document until the whole PDF is written — most of a pack's memory and part of its time."""
    from weasyprint import HTML

    return HTML(string=html, base_url=str(settings.BASE_DIR)).render(font_config=fonts)


def _render(template: str, context: dict, first_page: int, keep: list[str] | None = None, *, fonts=None):
    """Lay out a one-part, numbered document (the cover, the contents, the primer)."""
    html = _html(template, context, first_page)
    if keep is not None:
        keep.append(html)
    return _lay_out(html, fonts=fonts)


def pack_processes(html_bytes: int) -> int:
    """Worker processes for laying out parts that hold ``html_bytes`` of HTML: none (1) under
    ``QMS_PACK_PARALLEL_FROM_BYTES``, else ``QMS_PACK_PROCESSES`` (default: the CPUs, at most 4)."""
    if html_bytes < int(getattr(settings, "QMS_PACK_PARALLEL_FROM_BYTES", 0)):
        return 1
    return max(1, int(getattr(settings, "QMS_PACK_PROCESSES", 0) or min(os.cpu_count() or 1, 4)))


# ------------------------------------------------------------------------------------ data


def _scope(root: Unit, on: dt.date) -> dict:
    """The tree with each unit's 党员人数 on ``on``, rolled up the tree — the same figure the
    organisation tree, the home page and the unit page show (``qms.figures``)."""
    units = list(Unit.objects.filter(path__startswith=root.path, is_active=True).order_by("path"))
    counts = member_counts([root, *units], on=on)
    leaders = list(Position.objects.filter(unit=root, end__isnull=True).select_related("member").order_by("title"))
    return {"units": [(u, counts[u.pk].total, u.depth - root.depth) for u in units], "leaders": leaders,
            "member_total": counts[root.pk].total, "member_full": counts[root.pk].full, "members_on": on}


def _documents(root: Unit, end: dt.date) -> tuple[list, list]:
    """现行有效文件清单 and the approval history of those documents."""
    owners = Q(document__owner__isnull=True) | Q(document__owner__path__startswith=root.path)
    for i in range(9, len(root.path), 9):  # documents of the levels above apply too
        owners |= Q(document__owner__path=root.path[:i])
    effective = list(DocumentVersion.objects.filter(owners, status=VersionStatus.EFFECTIVE).select_related("document")
                     .order_by("document__code"))
    history = list(DocumentVersion.objects.filter(owners, document__in=[v.document_id for v in effective],
                                                  approved_at__isnull=False, approved_at__date__lte=end)
                   .select_related("document").order_by("document__code", "approved_at"))
    return effective, history


def _occurrences(root: Unit, start: dt.date, end: dt.date, today: dt.date):
    rows = (Occurrence.objects.filter(unit__path__startswith=root.path)
            .filter(Q(due_date__gte=start, due_date__lte=end) | Q(held_on__gte=start, held_on__lte=end))
            .select_related("unit", "obligation__version__document", "record")
            .annotate(present=Count("record__attendance", filter=Q(record__attendance__presence="present")),
                      absent=Count("record__attendance", filter=Q(record__attendance__presence="absent")))
            .order_by("obligation__version__document__code", "obligation_key", "unit__path", "due_date"))
    by_doc: dict[str, dict] = {}
    for o in rows.iterator(chunk_size=2000):
        doc = o.obligation.version.document
        d = by_doc.setdefault(doc.code, {"document": doc, "obligations": {}})
        ob = d["obligations"].setdefault(o.obligation_key, {"obligation": o.obligation, "cells": defaultdict(Counter),
                                                            "records": []})
        if start <= o.due_date <= end:
            # keyed by name and code: many units share a name (every branch has a 第1党小组)
            ob["cells"][f"{o.unit.name}({o.unit.code})"][cell_status(o.state, o.late, o.due_date, today)] += 1
        if o.state in HELD and o.held_on and start <= o.held_on <= end:
            ob["records"].append(o)
    return by_doc


def _full_records(occurrences: list[Occurrence]) -> list[dict]:
    out = []
    for o in occurrences:
        rec = getattr(o, "record", None)
        out.append({"occ": o, "followups": list(rec.followups.all()) if rec else [],
                    "attachments": list(rec.attachments.all()) if rec else [], "elements": rec.elements if rec else {}})
    return out


def _certification(root: Unit, start: dt.date, end: dt.date, today: dt.date) -> dict | None:
    """认证证书 in force during the period for ``root`` (its own, a level above's, or a unit's below)
    with their external audits, and the external findings still open — None when there is none."""
    ancestors = [int(p) for p in root.path.strip("/").split("/") if p]
    certs = list(Certificate.objects.filter(Q(unit_id__in=ancestors) | Q(unit__path__startswith=root.path),
                                            issued_on__lte=end, expires_on__gte=start)
                 .select_related("unit").prefetch_related("audits").order_by("unit__path", "issued_on"))
    findings = list(ExternalFinding.objects.filter(nonconformity__unit__path__startswith=root.path,
                                                   nonconformity__state__in=OPEN_STATES)
                    .select_related("nonconformity__unit", "audit__certificate").order_by("nonconformity__code"))
    if not certs and not findings:
        return None
    return {"certificates": [(c, [(a, a.status_label(today)) for a in c.audits.all()]) for c in certs], "findings": findings}


def _attachments(root: Unit, start: dt.date, end: dt.date) -> list[Attachment]:
    return list(Attachment.objects.filter(record__occurrence__unit__path__startswith=root.path,
                                          record__occurrence__held_on__gte=start, record__occurrence__held_on__lte=end)
                .select_related("record__occurrence__unit", "record__occurrence__obligation").order_by("pk"))


def _ledger_seqs(obj_type: str, objs) -> dict[str, int]:
    """The ledger entry that recorded each stored file (the first entry for the object)."""
    ids = [str(a.pk) for a in objs]
    seqs: dict[str, int] = {}
    for obj_id, seq in (LedgerEntry.objects.filter(obj_type=obj_type, obj_id__in=ids)
                        .order_by("seq").values_list("obj_id", "seq")):
        seqs.setdefault(obj_id, seq)
    return seqs


def _stored(f, out_dir: Path) -> Path | None:
    """A stored file as a local path the PDF and ZIP writers read: the file itself on a local
    folder, else (an S3-compatible bucket) a copy fetched into ``out_dir``; None when missing."""
    if not f.name:
        return None
    try:
        path = Path(f.path)
    except NotImplementedError:  # object storage: no local path
        path = None
    except ValueError:
        return None
    if path is not None:
        return path if path.is_file() else None
    if not f.storage.exists(f.name):
        return None
    copy = out_dir / "stored" / f.name
    copy.parent.mkdir(parents=True, exist_ok=True)
    with f.storage.open(f.name, "rb") as src, copy.open("wb") as dst:
        for block in iter(lambda: src.read(1 << 20), b""):
            dst.write(block)
    return copy


# ---------------------------------------------------------------------------------- build


def build_pack(root: Unit, start: dt.date, end: dt.date, *, out_dir: Path, generated_by: str,
               progress: Progress | None = None, extra_chapters: list[tuple[str, str]] | None = None,
               keep_html: list[str] | None = None, processes: int | None = None) -> PackResult:
    """Build the pack for ``root``'s subtree and ``start``–``end`` into ``out_dir``
    (``keep_html`` collects each document's final HTML, numbered, for the benchmark's bare
    baseline). The chapters' parts are laid out by ``processes`` worker processes where that can
    be done (``parts.py``); by default by ``pack_processes()`` of them."""
    from weasyprint import Attachment as PdfAttachment

    report = progress or (lambda p, c: None)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    today = timezone.localdate()
    head = ledger.head()
    generated_at = timezone.localtime()
    report(1, "汇集数据")

    scope = _scope(root, min(end, today))
    effective, history = _documents(root, end)
    by_doc = _occurrences(root, start, end, today)
    attachments = _attachments(root, start, end)
    seqs = _ledger_seqs("workflows.attachment", attachments)
    missing: list[str] = []
    present: list[tuple[Attachment, Path | None]] = []
    for a in attachments:
        path = _stored(a.file, out_dir)
        if path is None:
            missing.append(f"{a.name}(记录 {a.record_id},{a.record.occurrence.unit.name})")
        present.append((a, path))

    compliance_units: dict[str, Counter] = defaultdict(Counter)
    for d in by_doc.values():
        for ob in d["obligations"].values():
            for unit_name, c in ob["cells"].items():
                compliance_units[unit_name].update(c)

    def share(c: Counter) -> float | None:
        due = c["on_time"] + c["late"] + c["missed"]
        return None if not due else (c["on_time"] + c["late"]) / due

    audits = list(Audit.objects.filter(units__path__startswith=root.path, start__lte=end, end__gte=start).distinct()
                  .prefetch_related("units", "findings", "meetings").order_by("start"))
    ncs = list(Nonconformity.objects.filter(unit__path__startswith=root.path, raised_on__gte=start, raised_on__lte=end)
               .select_related("unit", "owner").order_by("code"))
    from audits.capa.models import NCAttachment

    nc_files = list(NCAttachment.objects.filter(nonconformity__in=ncs).select_related("nonconformity__unit").order_by("pk"))
    nc_seqs = _ledger_seqs("audits.ncattachment", nc_files)
    nc_present: list[tuple[NCAttachment, Path | None]] = []
    for a in nc_files:
        path = _stored(a.file, out_dir)
        if path is None:
            missing.append(f"{a.name}(不符合项 {a.nonconformity.code} 的整改证据)")
        nc_present.append((a, path))
    reviews = list(ManagementReview.objects.filter(Q(root__path__startswith=root.path) | Q(root__in=_ancestors(root)),
                                                   held_on__gte=start, held_on__lte=end)
                   .prefetch_related("decisions__action").order_by("held_on"))
    from audits.performance.scoring import objectives_status

    objectives = [(y, objectives_status(root, y, today=today)) for y in range(start.year, end.year + 1)]
    nc_states = Counter(n.get_state_display() for n in ncs)

    base = {"root": root, "start": start, "end": end, "generated_at": generated_at, "generated_by": generated_by,
            "head": head, "none": NONE}
    chapters: list[Chapter] = [
        Chapter("4 组织环境:体系范围", "audits/evidence/ch_scope.html", {**base, **scope}),
    ]
    certification = _certification(root, start, end, today)
    if certification is not None:
        chapters.append(Chapter("认证证书、外部审核与外部审核发现", "audits/evidence/ch_extra.html",
                                {**base, "html": render_to_string("audits/certification/pack_chapter.html", certification)}))
    chapters += [
        Chapter("5 领导作用与 6 策划:方针和党建目标", "audits/evidence/ch_objectives.html", {
            **base, "objectives": objectives,
            "charts": [svg for y, rows in objectives if rows
                       for svg in charts.bar_chart([(s.objective.title, s.share.value) for s in rows], title=f"{y} 年党建目标完成情况")]}),
        Chapter("7 支持:成文信息(现行有效文件清单与审批记录)", "audits/evidence/ch_documents.html",
                {**base, "effective": effective, "history": history}),
    ]
    for n, (code, d) in enumerate(sorted(by_doc.items()), start=1):
        obligations = []
        for ob in d["obligations"].values():
            cells = sorted(ob["cells"].items())
            obligations.append({"obligation": ob["obligation"], "cells": [(u, c, share(c)) for u, c in cells],
                                "records": ob["records"], "full": _full_records(ob["records"][:FULL_RECORDS_PER_OBLIGATION])})
        chapters.append(Chapter(f"8.{n} {code} {d['document'].title}", "audits/evidence/ch_procedure.html",
                                {**base, "document": d["document"], "obligations": obligations, "labels": STATUS_LABELS}))
    if not by_doc:
        chapters.append(Chapter("8 运行:程序执行记录", "audits/evidence/ch_procedure.html",
                                {**base, "document": None, "obligations": [], "labels": STATUS_LABELS}))
    chapters += [
        Chapter("9 绩效评价:执行情况、内部审核与管理评审", "audits/evidence/ch_evaluation.html", {
            **base, "audits": audits, "reviews": reviews,
            "charts": charts.bar_chart([(u, share(c)) for u, c in sorted(compliance_units.items())],
                                       title="各党组织规定执行率") if compliance_units else [],
            "units": [(u, c, share(c)) for u, c in sorted(compliance_units.items())]}),
        Chapter("10 改进:不符合项与纠正措施台账", "audits/evidence/ch_improvement.html", {
            **base, "ncs": ncs, "chart": charts.count_chart(sorted(nc_states.items()), title="不符合项状态") if ncs else ""}),
        Chapter("附件清单", "audits/evidence/ch_attachments.html",
                {**base, "attachments": [(a, p is not None, seqs.get(str(a.pk))) for a, p in present],
                 "nc_files": [(a, p is not None, nc_seqs.get(str(a.pk))) for a, p in nc_present], "missing": missing}),
    ]
    for title, html in extra_chapters or []:
        chapters.append(Chapter(title, "audits/evidence/ch_extra.html", {**base, "html": html}))
    chapters.append(Chapter("如何验证本证据包", "audits/evidence/ch_verify.html", base))

    from weasyprint.text.fonts import FontConfiguration

    from audits.evidence.painted import paint_early

    layout = laying.Layout()
    with _collect_per_part():  # the layout and the PDF write
        fonts = FontConfiguration()
        pdf_fonts: dict = {}  # the fonts (and the glyphs used) of the whole PDF, filled as pages are painted
        total = len(chapters) + 3
        cover = _render("audits/evidence/cover.html", {**base, "units": len(scope["units"])}, 1, keep_html, fonts=fonts)
        toc_ctx = {**base, "chapters": chapters}
        for c in chapters:
            c.first_page = 999
        toc_pages = len(_render("audits/evidence/toc.html", toc_ctx, 2, fonts=fonts).pages)
        page = len(cover.pages) + toc_pages + 1
        cover_pages = paint_early(cover, pdf_fonts)
        work = []
        for c in chapters:  # a heartbeat (qms/jobs.py) per chapter while the parts' HTML is rendered
            report(1, "汇集数据")
            work += [(c, html) for html in _parts(c.template, {**c.context, "title": c.title})]
        n = processes or pack_processes(sum(len(h) for _, h in work))
        primed = frozenset()
        if n > 1 and laying.can_fork():  # every typeface of the styles in the font dictionary the workers start with
            primed = laying.prime(_render("audits/evidence/fonts.html", base, 1, fonts=fonts), pdf_fonts)
        for c in chapters:
            c.first_page = 0
        chapter_pages = []
        laid_out = laying.lay_out_parts([h for _, h in work], lambda html: _lay_out(html, fonts=fonts), pdf_fonts, n, layout)
        for (c, html), pages in zip(work, laid_out, strict=True):
            if not c.first_page:
                c.first_page = page
            report(2 + int(88 * chapters.index(c) / total), c.title)  # with each part: the build's heartbeat
            strips = _render("audits/evidence/footers.html", {"pages": range(len(pages))}, page, fonts=fonts)
            chapter_pages += laying.numbered(pages, strips, pdf_fonts)
            if keep_html is not None:
                keep_html.append(_numbered(html, page))
            c.pages += len(pages)
            page += len(pages)
            del pages, strips
        toc = _render("audits/evidence/toc.html", toc_ctx, len(cover.pages) + 1, fonts=fonts)
        if len(toc.pages) != toc_pages:  # cannot happen with a fixed number of lines; never publish wrong numbers
            raise RuntimeError("目录页数与预排不一致")

        report(92, "写入 PDF/A-3b 并嵌入附件")
        pdf_path = out_dir / "pack.pdf"
        pdf_attachments = [PdfAttachment(filename=str(p), name=f"{a.record_id}-{a.name}",
                                         description=f"记录 {a.record_id} 附件 {a.name} SHA-256 {a.sha256}", relationship="Source")
                           for a, p in present if p is not None]
        pdf_attachments += [PdfAttachment(filename=str(p), name=f"{a.nonconformity.code}-{a.name}",
                                          description=f"不符合项 {a.nonconformity.code} 整改证据 {a.name} SHA-256 {a.sha256}",
                                          relationship="Source") for a, p in nc_present if p is not None]
        pack = cover.copy([*cover_pages, *paint_early(toc, pdf_fonts), *chapter_pages])
        pack.fonts = laying.used(pdf_fonts, primed)  # the pages painted early registered their glyphs here
        pack.write_pdf(pdf_path, pdf_variant="pdf/a-3b", attachments=pdf_attachments)
        n_pages = len(pack.pages)
        del pack, cover_pages, chapter_pages
    pdf_sha = sha256_file(pdf_path)

    report(96, "打包附件与清单")
    files = []
    zip_path = out_dir / "pack.zip"
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.write(pdf_path, "pack.pdf")
        for a, p in present:
            if p is None:
                continue
            report(96, "打包附件与清单")
            arc = f"attachments/{a.record_id}/{a.pk}-{a.name}"
            z.write(p, arc)
            files.append({"path": arc, "size": p.stat().st_size, "sha256": sha256_file(p), "obj_type": "workflows.attachment",
                          "attachment_id": a.pk, "record_id": a.record_id, "occurrence_id": a.record.occurrence_id,
                          "ledger_seq": seqs.get(str(a.pk))})
        for a, p in nc_present:
            if p is None:
                continue
            report(96, "打包附件与清单")
            arc = f"nc/{a.nonconformity.code}/{a.pk}-{a.name}"
            z.write(p, arc)
            files.append({"path": arc, "size": p.stat().st_size, "sha256": sha256_file(p), "obj_type": "audits.ncattachment",
                          "attachment_id": a.pk, "nonconformity": a.nonconformity.code, "ledger_seq": nc_seqs.get(str(a.pk))})
        manifest = {
            "format": "party-qms-evidence-pack/1", "unit": {"code": root.code, "name": root.name},
            "period": {"from": start.isoformat(), "to": end.isoformat()},
            "generated_at": generated_at.isoformat(), "generated_by": generated_by,
            "ledger_head": {"seq": head[0], "hash": head[1]},
            "pdf": {"path": "pack.pdf", "size": pdf_path.stat().st_size, "sha256": pdf_sha},
            "files": files, "missing": missing,
        }
        z.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2))
    report(100, "完成")
    return PackResult(pdf_path, zip_path, pdf_sha, sha256_file(zip_path), n_pages, head, missing,
                      [(c.title, c.first_page) for c in chapters], layout)


def _ancestors(unit: Unit) -> list[int]:
    return [int(p) for p in unit.path.strip("/").split("/")[:-1] if p]
