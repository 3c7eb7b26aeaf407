"""verify_pack — check a pack's ZIP against its manifest and the manifest against the ledger.

Problems are returned as Chinese sentences naming the file or entry; an empty list means the
pack is intact and everything it cites is still in an unbroken ledger chain.
"""
from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

from qms import ledger
from qms.models import LedgerEntry


def _digest(z: zipfile.ZipFile, name: str) -> tuple[int, str]:
    h, size = hashlib.sha256(), 0
    with z.open(name) as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
            size += len(block)
    return size, h.hexdigest()


def verify_pack(zip_path: str | Path) -> list[str]:
    problems: list[str] = []
    try:
        z = zipfile.ZipFile(zip_path)
    except (OSError, zipfile.BadZipFile) as exc:
        return [f"无法打开证据包 {zip_path}:{exc}"]
    with z:
        try:
            manifest = json.loads(z.read("manifest.json"))
        except KeyError:
            return ["证据包中没有清单 manifest.json"]
        except ValueError:
            return ["清单 manifest.json 不是有效的 JSON"]
        names = set(z.namelist())
        listed = {"manifest.json", manifest["pdf"]["path"]} | {f["path"] for f in manifest["files"]}
        for extra in sorted(names - listed):
            problems.append(f"文件 {extra} 不在清单中")
        for entry in [{**manifest["pdf"], "pdf": True}, *manifest["files"]]:
            name = entry["path"]
            if name not in names:
                problems.append(f"清单中的文件 {name} 在证据包中缺失")
                continue
            try:
                size, sha = _digest(z, name)
            except zipfile.BadZipFile as exc:
                problems.append(f"文件 {name} 已损坏:{exc}")
                continue
            if sha != entry["sha256"]:
                problems.append(f"文件 {name} 的 SHA-256 与清单不符(清单 {entry['sha256'][:16]}…,实际 {sha[:16]}…)")
            elif size != entry["size"]:
                problems.append(f"文件 {name} 的大小与清单不符")
    problems += _against_ledger(manifest)
    return problems


def _against_ledger(manifest: dict) -> list[str]:
    problems: list[str] = []
    head_seq, head_hash = manifest["ledger_head"]["seq"], manifest["ledger_head"]["hash"]
    seqs = [f["ledger_seq"] for f in manifest["files"] if f.get("ledger_seq")]
    entries = {e.seq: e for e in LedgerEntry.objects.filter(seq__in=[*seqs, head_seq])}
    for f in manifest["files"]:
        seq = f.get("ledger_seq")
        if not seq:
            problems.append(f"文件 {f['path']} 没有对应的留痕条目")
            continue
        e = entries.get(seq)
        if e is None:
            problems.append(f"文件 {f['path']} 引用的留痕条目 {seq} 不存在")
            continue
        after = e.after or {}
        if e.obj_type != f.get("obj_type", "workflows.attachment") or e.obj_id != str(f["attachment_id"]):
            problems.append(f"文件 {f['path']} 引用的留痕条目 {seq} 记录的不是该附件")
        elif after.get("sha256") != f["sha256"]:
            problems.append(f"文件 {f['path']} 与留痕条目 {seq} 登记的 SHA-256 不符")
    if head_seq:
        head = entries.get(head_seq)
        if head is None:
            problems.append(f"清单中的留痕链头(序号 {head_seq})在台账中不存在")
        elif head.hash != head_hash:
            problems.append(f"留痕链头(序号 {head_seq})的哈希与清单不符")
    result = ledger.verify(check_objects=False)
    for p in result.problems:
        if p.seq is None or p.seq <= head_seq:
            problems.append(f"留痕链在序号 {p.seq} 处不完整:{p.message}")
    return problems
