"""Instructions per request under callgrind: exact enough to judge a change from one run.

A small Flask app (tests/apps/cpu/ledger.py) in a real git history; the head edits it the way a
PR would, adding about 5% of CPU work to one endpoint. Real gunicorn under real Valgrind; the
other endpoints are the A/A control (same code, fresh processes)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from perfgate.cli.main import main
from perfgate.measure.callgrind_out import read_dump
from perfgate.measure.instructions import valgrind
from tests.conftest import require
from tests.faultkit import commit, perfgate_env

LEDGER = (Path(__file__).parent / "apps" / "cpu" / "ledger.py").read_text()
CONFIG = """\
app:
  target: "ledger:create_app()"
  workers: 1
endpoints:
  - {name: health, path: /health}
  - {name: summary, path: /summary}
  - {name: tags, path: /tags}
profile: {warmup: 2, samples: 24, trials: 4, instructions: 15}
load: {enabled: false}
compare: {ab_instances: 1, run_instances: 1, confirm: false}
"""
# The PR's edit: audit every 16th entry of the summary, not just the first (about +5% of its
# instructions).
PLANTED = LEDGER.replace("AUDIT_EVERY = 1_000_000_000", "AUDIT_EVERY = 16")


@pytest.fixture(autouse=True)
def instructions_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """The suite switches counting off (tests/conftest.py); these tests are about it."""
    monkeypatch.delenv("PERFGATE_INSTRUCTIONS", raising=False)


def _needs_valgrind() -> None:
    require(None if valgrind() else "valgrind is not installed (apt-get install valgrind)")


def _run(repo: Path, *args: str) -> tuple[int, dict]:
    here = Path.cwd()
    os.chdir(repo)
    try:
        status = main([*args, "-c", "thresholds.yaml", "--out", ".perfgate"])
    finally:
        os.chdir(here)
    results = repo / ".perfgate" / "results.json"
    return status, json.loads(results.read_text()) if results.exists() else {}


def _instructions(results: dict) -> dict[str, dict]:
    return {c["endpoint"]: c for c in results["checks"] if c["metric"] == "instructions"}


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "ledger"
    commit(repo, {"ledger.py": LEDGER, "thresholds.yaml": CONFIG, ".gitignore": ".perfgate/\n"},
           "ledger")  # fmt: skip
    return repo


def test_ab_fails_only_the_endpoint_whose_cpu_work_grew(tmp_path: Path) -> None:
    _needs_valgrind()
    repo = _repo(tmp_path)
    (repo / "ledger.py").write_text(PLANTED)

    status, results = _run(repo, "check", "--against", "HEAD")

    checks = _instructions(results)
    assert checks["summary"]["status"] == "fail", checks["summary"]["message"]
    assert 0.03 < checks["summary"]["change"] < 0.08
    for same in ("health", "tags"):  # unchanged functions, but in an edited module and tree
        assert checks[same]["status"] == "pass", checks[same]["message"]
        # Not the 0.5% of fresh processes of one tree: an edited module moves every object
        # in memory, measured here at up to 0.7% (docs/evidence/instructions.md).
        assert abs(checks[same]["change"]) < 0.01
    # (The wall-time checks of so small a profile may go either way: they are not the subject.)
    assert status == 1
    # Where it went: the function and its calls per request (every 16th of 400 entries).
    (summary,) = [c for c in results["changes"] if c["endpoint"] == "summary"]
    grown = {g["name"]: g for g in summary["growth"] if g["kind"] == "calls"}
    assert (grown["ledger.audit_entry"]["base"], grown["ledger.audit_entry"]["head"]) == (1, 25)
    report = (repo / ".perfgate" / "report.md").read_text()
    assert "### What changed" in report and "`ledger.audit_entry` 1 -> 25" in report
    assert "Instructions per request (callgrind)" in report


def test_one_stored_run_is_enough_to_catch_it(tmp_path: Path) -> None:
    _needs_valgrind()
    repo = _repo(tmp_path)
    status, recorded = _run(repo, "baseline")
    assert status == 0
    baseline = json.loads((repo / ".perfgate" / "baseline.json").read_text())
    assert len(baseline["runs"]) == 1
    (repo / "ledger.py").write_text(PLANTED)

    status, results = _run(repo, "check")

    checks = _instructions(results)
    assert checks["summary"]["status"] == "fail", checks["summary"]["message"]
    assert checks["health"]["status"] == "pass" and checks["tags"]["status"] == "pass"
    assert status == 1
    # The wall-time checks cannot tell from one run; the instruction count could.
    timed = [c for c in results["checks"] if c["metric"] in ("median", "p95")]
    assert timed and all(c["status"] != "fail" for c in timed)
    assert any("a real CPU cost" in note for note in results["notes"])


def test_without_valgrind_the_check_is_skipped_with_a_note(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    (repo / "ledger.py").write_text(PLANTED)
    tools = tmp_path / "bin"  # a PATH with git and nothing else
    tools.mkdir()
    git = shutil.which("git")
    assert git is not None
    (tools / "git").symlink_to(git)
    env = {**perfgate_env(), "PATH": str(tools)}
    env.pop("PERFGATE_INSTRUCTIONS", None)
    done = subprocess.run(
        [sys.executable, "-m", "perfgate", "check", "--against", "HEAD", "--out", ".perfgate"],
        cwd=repo, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    results = json.loads((repo / ".perfgate" / "results.json").read_text())
    assert "valgrind is not installed" in results["run"]["instructions_note"]
    assert not _instructions(results)
    metrics = {(c["endpoint"], c["metric"]) for c in results["checks"]}
    assert metrics == {
        (e, m) for e in ("health", "summary", "tags") for m in ("error_rate", "median", "p95")
    }
    # The wall-time checks of so small a profile (4 trials) may go either way, as in a run
    # without the instructions feature: the exit code follows them, nothing else.
    failed = [c for c in results["checks"] if c["status"] == "fail"]
    assert all(c["metric"] in ("median", "p95") for c in failed)
    assert done.returncode == (1 if failed else 0) or (not failed and done.returncode == 2)
    assert "valgrind is not installed" in (repo / ".perfgate" / "report.md").read_text()


DUMP = """\
# callgrind format
version: 1
creator: callgrind-3.19.0
desc: Trigger: Client Request: endpoint-0-batch-1
positions: line
events: Ir
summary: 1000

ob=(1) /usr/bin/python3.11
fl=(1) ???
fn=(1) handle
0 100
cfn=(2) encode
calls=2 0
0 600
fn=(2)
0 500
cob=(2) /usr/lib/_json.so
cfn=(3) scan
calls=1 0
0 100
ob=(2)
fn=(3)
+1 60
-1 40
ob=(1)
fn=(4) encode'2
0 5
totals: 1000
"""


def test_callgrind_dump_reader(tmp_path: Path) -> None:
    """Name compression (defined in a cob= line, used in ob=), inclusive call costs, relative
    positions, recursion levels folded into one function."""
    path = tmp_path / "cg.1.out.1"
    path.write_text(DUMP)
    dump = read_dump(path)
    assert dump.label == "endpoint-0-batch-1" and dump.total == 1000
    assert dump.self_cost == {"handle\tpython3.11": 100, "encode\tpython3.11": 505,
                              "scan\t_json.so": 100}  # fmt: skip
    assert dump.inclusive["handle\tpython3.11"] == 700
    assert dump.inclusive["encode\tpython3.11"] == 605
