"""T21, mutation testing by hand: the helper of bench/mutation.sh.

  configure SET PYPROJECT   write the set's [tool.mutmut] table into a scratch copy's pyproject.toml
  split N DIR OUT           deal DIR's mutants into N lists (OUT1.txt …), each function's mutants
                            shared among the parts, so that each part gets as much slow work
  left PART LIST            the mutants of LIST that have no verdict yet in PART (a run taken up again)
  merge INTO PART...        copy each part's verdicts (for the mutants on its list) into INTO's meta files
  summary DIR               counts by module and outcome and the score, killed / (killed + survived +
                            no test), from DIR's meta files; survivors listed in DIR/../survived.txt

Sets: ``core`` is pyproject.toml's own [tool.mutmut] (the ledger, the permission matrix, scoping);
``fsm`` mutates the state machines' models (guards and helpers of the occurrence, election,
recruitment and corrective-action machines) under the tests that drive them.
"""
from __future__ import annotations

import collections
import json
import re
import sys
import tomllib
from pathlib import Path

from mutmut.stats import status_by_exit_code  # the outcome of each of mutmut's exit codes

SETS: dict[str, dict] = {
    "fsm": {
        "source_paths": ["workflows", "audits"],
        "only_mutate": ["workflows/models.py", "audits/capa/models.py"],
        "also_copy": ["qms", "procedures", "api", "templates", "static", "locale", "docs", "manage.py"],
        # the mutated packages imported from mutants/ before Celery's Django fixup puts the
        # working directory (the unmutated copies) first on sys.path (tests/mutmut_plugin.py)
        "pytest_add_cli_args": ["-p", "tests.mutmut_plugin", "-p", "no:randomly", "-p", "no:xdist", "--reuse-db", "-q", "-x"],
        "pytest_add_cli_args_test_selection": [
            "tests/test_fsm_guards.py", "tests/test_workflows_records.py", "tests/test_workflows_schedule.py", "tests/test_workflows_tally.py",
            "tests/test_workflows_dues.py", "tests/test_dues_occurrence.py", "tests/test_state_fuzz.py",
            "tests/test_recruitment.py", "tests/test_recruitment_ends.py", "tests/test_elections.py",
            "tests/test_elections_vacancy.py", "tests/audits/capa", "tests/test_concurrency_pg.py",
            "tests/test_conflicts_pg.py",
        ],
    },
}


def configure(name: str, pyproject: str) -> None:
    if name == "core":  # pyproject.toml's own table
        return
    path = Path(pyproject)
    text = path.read_text(encoding="utf-8")
    table = {**tomllib.loads(text)["tool"]["mutmut"], **SETS[name]}
    # JSON's strings, numbers, booleans and lists are TOML's too
    body = "[tool.mutmut]\n" + "".join(f"{k} = {json.dumps(v, ensure_ascii=False)}\n" for k, v in table.items())
    start = text.index("[tool.mutmut]\n")
    nxt = re.search(r"^\[", text[start + 1:], re.M)
    end = start + 1 + nxt.start() if nxt else len(text)
    path.write_text(text[:start] + body + text[end:], encoding="utf-8")


def split(parts: int, directory: str, out: str) -> None:
    """Deal DIR's mutants (every key of its meta files) into the parts, round the mutated
    functions: a function's mutants, which run the same tests, go to every part alike."""
    names = sorted(key for meta in _metas(Path(directory) / "mutants").values() for key in meta["exit_code_by_key"])
    for k in range(parts):
        Path(f"{out}{k + 1}.txt").write_text("".join(f"{n}\n" for n in names[k::parts]), encoding="utf-8")
    print(f"{len(names)} mutants in {parts} parts")


def _metas(root: Path) -> dict[Path, dict]:
    return {p.relative_to(root): json.loads(p.read_text(encoding="utf-8")) for p in root.rglob("*.meta")}


def left(part: str, listing: str) -> None:
    decided = {key for meta in _metas(Path(part) / "mutants").values()
               for key, code in meta["exit_code_by_key"].items() if code is not None}
    for name in Path(listing).read_text(encoding="utf-8").split():
        if name not in decided:
            print(name)


def merge(into: str, parts: list[str]) -> None:
    target = Path(into) / "mutants"
    merged = _metas(target)
    for part in parts:
        mine = set(Path(f"{part}.txt").read_text(encoding="utf-8").split())
        for rel, meta in _metas(Path(part) / "mutants").items():
            for key, code in meta["exit_code_by_key"].items():
                if key in mine and code is not None:
                    merged[rel]["exit_code_by_key"][key] = code
                    merged[rel].setdefault("durations_by_key", {})[key] = meta.get("durations_by_key", {}).get(key)
    for rel, meta in merged.items():
        (target / rel).write_text(json.dumps(meta, indent=4), encoding="utf-8")


def summary(directory: str) -> None:
    by: collections.Counter = collections.Counter()
    left = []
    for _rel, meta in sorted(_metas(Path(directory) / "mutants").items()):
        for key, code in meta["exit_code_by_key"].items():
            module = key.split(".x")[0]
            status = status_by_exit_code[code]
            by[(module, status)] += 1
            if status in ("survived", "no tests", "not checked"):
                left.append(f"{key}: {status}\n")
    statuses = sorted({s for _, s in by})
    print(f"{'module':<24}" + "".join(f"{s:>14}" for s in statuses) + f"{'score':>8}")
    total = collections.Counter()
    for module in sorted({m for m, _ in by}):
        row = {s: by[(module, s)] for s in statuses}
        total.update(row)
        print(f"{module:<24}" + "".join(f"{row[s]:>14}" for s in statuses) + f"{_score(row):>8}")
    print(f"{'all':<24}" + "".join(f"{total[s]:>14}" for s in statuses) + f"{_score(total):>8}")
    (Path(directory).parent / "survived.txt").write_text("".join(left), encoding="utf-8")


def _score(row) -> str:
    scored = row.get("killed", 0) + row.get("survived", 0) + row.get("no tests", 0)
    return f"{row.get('killed', 0) / scored:.0%}" if scored else "—"


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "configure":
        configure(*args)
    elif command == "split":
        split(int(args[0]), args[1], args[2])
    elif command == "left":
        left(*args)
    elif command == "merge":
        merge(args[0], args[1:])
    elif command == "summary":
        summary(args[0])
    else:
        raise SystemExit(__doc__)
