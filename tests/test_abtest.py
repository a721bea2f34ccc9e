"""Same-run A/B end to end: a real git repository, real worktrees, real gunicorn apps.

The repository is built in tmp_path from a copy of tests/apps/tiny.py; its second commit makes
/items busy-wait, so `check --against HEAD~1` must fail and blame /items alone, and every
worktree and process must be gone afterwards, also when perfgate is interrupted midway.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.faultkit import git, processes_with, slowed_items_repo

REPO_ROOT = Path(__file__).resolve().parents[1]

CONFIG = """\
app:
  target: "tiny:create_app()"
  workers: 1
  startup_timeout_s: 20
endpoints:
  - name: health
    path: /health
  - name: items
    path: /items
profile: {warmup: 3, samples: 48, trials: 6}
load: {concurrency: [2], duration_s: 0.6, warmup_s: 0.05, trials: 2}
budgets:
  default: {regression: 10%, error_rate: 1%}
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repo: commit 1 = tiny app + config; commit 2 = /items busy-waits 4 ms."""
    return slowed_items_repo(tmp_path / "repo", CONFIG)


def _env(scratch: Path) -> dict[str, str]:
    scratch.mkdir(exist_ok=True)
    # TMPDIR puts the base worktree where the test can see it was removed.
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src"), "TMPDIR": str(scratch)}


def test_check_against_the_previous_commit_fails_and_blames_the_slowed_endpoint(
    repo: Path, tmp_path: Path
) -> None:
    scratch, out = tmp_path / "scratch", tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "perfgate", "check", "--against", "HEAD~1", "--out", str(out),
         "--seed", "7"],
        cwd=repo, env=_env(scratch), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["mode"] == "ab"
    assert results["against"].startswith("HEAD~1 (")
    base_commit = git(repo, "rev-parse", "HEAD~1").strip()
    head_commit = git(repo, "rev-parse", "HEAD").strip()
    assert results["base_run"]["environment"]["git_commit"] == base_commit
    assert results["run"]["environment"]["git_commit"] == head_commit
    failed = {(c["endpoint"], c["metric"]) for c in results["checks"] if c["status"] == "fail"}
    profile_failures = {f for f in failed if not f[0].startswith("all @")}
    assert ("items", "median") in profile_failures
    assert all(endpoint == "items" for endpoint, _ in profile_failures)
    relative = [c for c in results["checks"] if c["kind"] == "relative"]
    assert relative and all(c["mde"] is not None for c in relative)
    assert len(results["run"]["load"][0]["trial_rps"]) == 2
    # Four instances per side (compare.ab_instances), each with its own log; every trial
    # records its pair, the same on both sides, and the pairs' spread is reported.
    logs = sorted(p.parent.name for p in out.glob("*/app.log"))
    assert logs == [f"{side}{n}" for side in ("base", "head") for n in ("", "-2", "-3", "-4")]
    sides = zip(results["base_run"]["endpoints"], results["run"]["endpoints"], strict=True)
    for base, head in sides:
        assert head["trial_instance"] == base["trial_instance"]
        assert set(head["trial_instance"]) == {0, 1, 2, 3}
    pairs_note = "Instance pairs: trials rotated over 4 pair(s)"
    assert any(n.startswith(pairs_note) for n in results["notes"])
    # cleaned up: no worktree left, in git's records or on disk, and no process
    assert git(repo, "worktree", "list").count("\n") == 1
    assert list(scratch.iterdir()) == []
    assert processes_with(str(tmp_path)) == []


def test_against_the_same_commit_does_not_fail(repo: Path, tmp_path: Path) -> None:
    # A/A: any fail would be false. The per-trial p95 of 8 requests is nearly the maximum, which
    # a busy machine can double; 20 requests per trial and a 25% tolerance keep this test about
    # the mechanics (sides, pairing, order), not about a 1-in-50 scheduling accident.
    roomy = CONFIG.replace("samples: 48", "samples: 120").replace(
        "regression: 10%", "regression: 25%"
    )
    (repo / "thresholds.yaml").write_text(roomy)
    scratch, out = tmp_path / "scratch", tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "perfgate", "check", "--against", "HEAD", "--out", str(out)],
        cwd=repo, env=_env(scratch), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["verdict"] in ("pass", "inconclusive")
    assert not any(c["status"] == "fail" for c in results["checks"])


def test_unknown_ref_and_no_repository_are_one_line_usage_errors(
    repo: Path, tmp_path: Path
) -> None:
    scratch = tmp_path / "scratch"
    done = subprocess.run(
        [sys.executable, "-m", "perfgate", "check", "--against", "no-such-branch"],
        cwd=repo, env=_env(scratch), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "no-such-branch" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1

    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "thresholds.yaml").write_text(CONFIG)
    done = subprocess.run(
        [sys.executable, "-m", "perfgate", "check", "--against", "HEAD"],
        cwd=plain, env={**_env(scratch), "GIT_CEILING_DIRECTORIES": str(tmp_path)},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "not inside a git repository" in done.stderr


def test_interrupt_midway_removes_the_worktree_and_stops_both_apps(
    repo: Path, tmp_path: Path
) -> None:
    scratch = tmp_path / "scratch"
    slow = CONFIG.replace("samples: 48", "samples: 100000").replace("trials: 6", "trials: 50")
    (repo / "thresholds.yaml").write_text(slow)
    process = subprocess.Popen(
        [sys.executable, "-m", "perfgate", "check", "--against", "HEAD", "--out",
         str(tmp_path / "out")],
        cwd=repo, env=_env(scratch), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        # wait until apps of both sides answer (in our tree and in the worktree); the sides'
        # instances start in turn (A1 B1 B2 A2 ...), so four of them hold both
        while time.monotonic() < deadline:
            logs = list((tmp_path / "out").glob("*/app.log"))
            if len(logs) >= 4 and all("Booting worker" in p.read_text() for p in logs):
                break
            time.sleep(0.1)
        else:
            pytest.fail("the apps of both sides did not start")
        assert any(scratch.iterdir())  # the worktree exists while measuring
        process.send_signal(signal.SIGINT)  # Ctrl-C
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, stderr
    assert git(repo, "worktree", "list").count("\n") == 1
    assert list(scratch.iterdir()) == []
    deadline = time.monotonic() + 10
    while processes_with(str(tmp_path)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_with(str(tmp_path)) == []


def test_calibrate_prints_the_noise_of_every_endpoint_and_metric(
    repo: Path, tmp_path: Path
) -> None:
    scratch, out = tmp_path / "scratch", tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "perfgate", "calibrate", "--out", str(out), "--seed", "3"],
        cwd=repo, env=_env(scratch), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {tuple(line.split()[:2]) for line in done.stdout.splitlines()}
    for row in [("health", "median"), ("health", "p95"), ("items", "median"), ("items", "p95")]:
        assert row in rows
    assert any(line.startswith("all @ c=2") for line in done.stdout.splitlines())
    assert "honest tol" in done.stdout
    assert processes_with(str(tmp_path)) == []
