"""The one check flow, end to end with real git worktrees and gunicorn apps: a side that cannot
start leaves an incomplete results file and report (never an older run's), and every app log of
every mode and instance is scrubbed of the configured secrets."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from perfgate.cli.main import main
from tests.faultkit import git, processes_with

TINY_APP = Path(__file__).resolve().parent / "apps" / "tiny.py"
SECRET = "s3cr3t-tiny-token-81"
CONFIG = f"""\
app:
  target: "tiny:create_app()"
  workers: 1
  startup_timeout_s: 20
  env: {{SHOP_API_TOKEN: "{SECRET}", TINY_PRINT_ENV: SHOP_API_TOKEN}}
endpoints:
  - {{name: items, path: /items}}
profile: {{warmup: 1, samples: 12, trials: 3}}
load: {{enabled: false}}
compare: {{run_instances: 3, ab_instances: 3}}
"""


def _repo(tmp_path: Path, base_app: str) -> Path:
    """A git repo of two commits: the base with `base_app` as tiny.py, the head with the real
    tiny app; the config is the same in both."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "thresholds.yaml").write_text(CONFIG)
    (repo / "tiny.py").write_text(base_app)
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "base")
    (repo / "tiny.py").write_text(TINY_APP.read_text())
    git(repo, "commit", "--allow-empty", "-qam", "head")
    return repo


def _stale(out: Path) -> None:
    """What an earlier run left: a passing verdict that must not survive a broken run."""
    out.mkdir(parents=True)
    (out / "results.json").write_text('{"verdict": "pass", "stale": true}')
    (out / "report.md").write_text("## perfgate: PASS (stale)\n")
    (out / "report.html").write_text("<p>stale</p>")


def test_a_base_that_cannot_start_gives_an_incomplete_report_not_an_older_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = _repo(tmp_path, 'raise RuntimeError("the base is broken")\n')
    out = repo / "out"
    _stale(out)
    status = main(["check", "-c", str(repo / "thresholds.yaml"), "--out", str(out),
                   "--against", "HEAD~1"])  # fmt: skip
    err = capsys.readouterr().err
    assert status == 3
    assert "base side: the app exited with code" in err and "the base is broken" in err
    results = json.loads((out / "results.json").read_text())
    assert "stale" not in results
    assert results["mode"] == "ab" and results["verdict"] == "fail"
    assert results["base_run"]["complete"] is False
    assert results["base_run"]["incomplete_reason"].startswith("base side: the app exited")
    assert results["run"]["complete"] is False
    report = (out / "report.md").read_text()
    assert "stale" not in report and "base run is incomplete" in report
    assert "stale" not in (out / "report.html").read_text()
    assert processes_with(str(tmp_path)) == []


def _app_logs(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): p.read_text() for p in sorted(out.rglob("app.log"))}


def test_every_app_log_of_every_mode_is_scrubbed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = _repo(tmp_path, TINY_APP.read_text())
    config = str(repo / "thresholds.yaml")

    stored = repo / "stored"
    assert main(["check", "-c", config, "--out", str(stored)]) == 0
    ab = repo / "ab"
    # Same code on both sides: whatever the verdict, the check finished.
    assert main(["check", "-c", config, "--out", str(ab), "--against", "HEAD~1"]) in (0, 1)

    logs = {**_app_logs(stored), **{f"ab/{k}": v for k, v in _app_logs(ab).items()}}
    assert sorted(logs) == [
        "ab/base-2/app.log", "ab/base-3/app.log", "ab/base/app.log",
        "ab/head-2/app.log", "ab/head-3/app.log", "ab/head/app.log",
        "app.log", "instance-2/app.log", "instance-3/app.log",
    ]  # fmt: skip
    for name, text in logs.items():
        # Each app printed the secret at start-up; what perfgate keeps shows the mask instead.
        assert "tiny starting with SHOP_API_TOKEN=***" in text, name
        assert SECRET not in text, name
    written = "".join(p.read_text() for p in repo.rglob("*") if p.suffix in (".json", ".md"))
    assert SECRET not in written + capsys.readouterr().out
    # Outputs are readable by others (a CI job's next step may run as another user), as any
    # file the umask allows; rewritten logs keep that mode too.
    umask = os.umask(0o022)
    os.umask(umask)
    allowed = 0o666 & ~umask
    for path in (stored / "results.json", stored / "report.md", ab / "head" / "app.log"):
        assert path.stat().st_mode & 0o777 == allowed, path


def test_a_side_whose_module_cannot_be_found_is_a_config_error_naming_the_side(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The base commit has no tiny.py at all (the PR adds the app): found fast, before any start.
    repo = _repo(tmp_path, "")
    git(repo, "rm", "-q", "--cached", "tiny.py")
    git(repo, "commit", "-qm", "the app arrives later")
    (repo / "tiny.py").write_text(TINY_APP.read_text())
    git(repo, "add", "tiny.py")
    git(repo, "commit", "-qm", "the app")
    status = main(["check", "-c", str(repo / "thresholds.yaml"), "--out", str(repo / "out"),
                   "--against", "HEAD~1"])  # fmt: skip
    err = capsys.readouterr().err
    assert status == 2
    assert "base side:" in err and "cannot find module 'tiny'" in err
    assert "Traceback" not in err
    assert processes_with(str(tmp_path)) == []
