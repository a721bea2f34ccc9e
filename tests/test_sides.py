"""Both sides really run: each side's setup, environment and data, on real git histories with
real gunicorn apps. Small apps shaped like the ones teams have (an installed src-layout package,
SQLite in an ignored folder seeded by a setup command, a base that answers 500, a PR that adds a
dependency), each checked with `--against` as a team would, from the docs alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from perfgate.cli.main import main
from tests.faultkit import commit, processes_with

SIDES = Path(__file__).parent / "apps" / "sides"
QUICK = """\
endpoints:
  - {name: health, path: /health}
  - {name: items, path: /items}
profile: {warmup: 2, samples: 48, trials: 6}
load: {enabled: false}
compare: {ab_instances: 2}
budgets:
  default: {regression: 10%, error_rate: 1%}
"""
PACKAGE = """\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "shopapp"
version = "0.1"

[tool.setuptools.packages.find]
where = ["src"]
"""


def _check(repo: Path, *extra: str) -> tuple[int, str, dict]:
    """`perfgate check` as a team runs it: from the repository's root, with relative paths."""
    out = repo / ".perfgate"
    here = Path.cwd()
    os.chdir(repo)
    try:
        status = main(["check", "-c", "thresholds.yaml", "--out", ".perfgate", *extra])
    finally:
        os.chdir(here)
    results = (
        json.loads((out / "results.json").read_text()) if (out / "results.json").exists() else {}
    )
    return status, str(out), results


def _good_and_broken() -> tuple[str, str]:
    """The small app, and the same app answering 500 on /items (a broken base)."""
    good = (SIDES / "installed_app.py").read_text()
    broken = good.replace('start_response("200 OK"', 'start_response("500 Boom" if '
                          'environ.get("PATH_INFO") == "/items" else "200 OK"')  # fmt: skip
    return good, broken


def _failed(results: dict) -> set[tuple[str, str]]:
    return {(c["endpoint"], c["metric"]) for c in results["checks"] if c["status"] == "fail"}


def test_an_installed_app_measures_each_sides_own_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "shop"
    app = (SIDES / "installed_app.py").read_text()
    config = "app:\n  target: shopapp:app\n  workers: 1\n  setup: pip install --quiet -e .\n"
    # /health (a tenth of a millisecond) only has to stay unblamed on a busy 2-core machine.
    loose = "  endpoints:\n    health: {regression: 50%}\n"
    files = {"pyproject.toml": PACKAGE, "src/shopapp/__init__.py": app,
             "thresholds.yaml": config + QUICK + loose, ".gitignore": ".perfgate/\n"}  # fmt: skip
    commit(repo, files, "base")
    commit(repo, {"src/shopapp/__init__.py": app.replace("ITEMS_MS = 0.0", "ITEMS_MS = 4.0")},
            "items got slower")  # fmt: skip

    status, out, results = _check(repo, "--against", "HEAD~1")
    assert status == 1, capsys.readouterr().err
    # Had the base imported the head's installed code, both sides would be slow: no fail.
    failed = _failed(results)
    assert {("items", "median"), ("items", "p95")} <= failed
    # /health's median is not blamed. Its tail is not asserted: in 2 of 5 CI runs on this busy
    # 2-core machine the p95 of that tenth-of-a-millisecond endpoint, served by the process that
    # now spends 4 ms more per /items request, moved past even 50%.
    assert ("health", "median") not in failed
    base = {p["name"]: p for p in results["base_run"]["endpoints"]}
    head = {p["name"]: p for p in results["run"]["endpoints"]}
    assert head["items"]["latency_ms"]["median"] - base["items"]["latency_ms"]["median"] > 2.5
    for side in ("base", "head"):
        assert "$ pip install --quiet -e ." in Path(out, side, "setup.log").read_text()
        assert Path(out, "envs", side, "bin", "gunicorn").exists()
    assert processes_with(str(tmp_path)) == []


def test_a_side_importing_the_app_from_elsewhere_is_stopped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # No setup, no environment of its own: the app reaches both sides through one PYTHONPATH
    # (as an install into a shared environment would), which points into the head's tree.
    repo = tmp_path / "shop"
    app = (SIDES / "installed_app.py").read_text()
    config = f"app:\n  target: shopapp:app\n  env: {{PYTHONPATH: {repo / 'src'}}}\n"
    commit(repo, {"pyproject.toml": PACKAGE, "src/shopapp/__init__.py": app,
                   "thresholds.yaml": config + QUICK}, "base")  # fmt: skip
    commit(repo, {"README.md": "a shop\n"}, "docs")
    status, _, _ = _check(repo, "--against", "HEAD~1")
    err = capsys.readouterr().err
    assert status == 2
    assert "base side:" in err and f"would be imported from {repo / 'src' / 'shopapp'}" in err
    assert "install the app in app.setup" in err


def test_sqlite_seeded_by_setup_in_each_sides_ignored_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "shop"
    config = ("app:\n  target: seeded_app:app\n  workers: 1\n  isolate: false\n"
              "  setup: python3 seed.py\n")  # fmt: skip
    files = {"seeded_app.py": (SIDES / "seeded_app.py").read_text(), "seed.py":
             (SIDES / "seed.py").read_text(), "thresholds.yaml": config + QUICK,
             ".gitignore": "instance/\n.perfgate/\n"}  # fmt: skip
    commit(repo, files, "base")
    commit(repo, {"README.md": "a shop\n"}, "docs only: an A/A")
    status, out, results = _check(repo, "--against", "HEAD~1")
    assert status in (0, 1), capsys.readouterr().err  # both sides ran, whatever the verdict
    for side, run in (("base", results["base_run"]), ("head", results["run"])):
        assert run["complete"], run["incomplete_reason"]
        items = next(p for p in run["endpoints"] if p["name"] == "items")
        assert items["error_rate"] == 0 and items["bytes_mean"] > 60  # 20 product names
        assert f"for the {side} side" in Path(out, side, "setup.log").read_text()


def test_a_base_that_answers_500_is_reported_not_compared(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "shop"
    good, broken = _good_and_broken()
    config = "app:\n  target: shop:app\n  workers: 1\n"
    body = QUICK.replace("  - {name: health, path: /health}\n", "")
    commit(repo, {"shop.py": broken, "thresholds.yaml": config + body}, "a broken base")
    commit(repo, {"shop.py": good}, "fixed")
    status, out, results = _check(repo, "--against", "HEAD~1")
    captured = capsys.readouterr()
    assert status == 3
    assert "ERROR" in captured.out
    assert results["verdict"] == "error" and _failed(results) == set()
    skipped = [c for c in results["checks"] if c["kind"] == "relative"]
    assert skipped and all(c["status"] == "skipped" for c in skipped)
    head_of_report = Path(out, "report.md").read_text().splitlines()[:4]
    assert any("Not compared, items: the base answered 500 on" in line for line in head_of_report)


def test_a_setup_that_fails_on_its_first_line_names_the_side_and_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "shop"
    config = ("app:\n  target: shop:app\n  isolate: false\n"
              "  setup: |\n    false\n    echo reached > reached.txt\n")  # fmt: skip
    commit(repo, {"shop.py": (SIDES / "installed_app.py").read_text(),
                   "thresholds.yaml": config + QUICK}, "base")  # fmt: skip
    commit(repo, {"README.md": "a shop\n"}, "docs")
    status, out, results = _check(repo, "--against", "HEAD~1")
    err = capsys.readouterr().err
    assert status == 3
    assert "base side: setup command failed: 'false\\necho reached > reached.txt'" in err
    assert "(exit status 1)" in err and "--- setup log (last lines) ---\n$ false\necho" in err
    assert not (repo / "reached.txt").exists()
    assert not Path(out, "head", "setup.log").exists()  # the base failed first: the head waits
    assert results["base_run"]["complete"] is False
    assert "setup command failed" in results["base_run"]["incomplete_reason"]
    assert processes_with(str(tmp_path)) == []


def test_a_pr_that_adds_a_dependency_runs_each_side_with_its_own_packages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # uv on PATH (a test dependency): environments are made with it, as on a runner that has it.
    monkeypatch.setenv("PATH", os.pathsep.join([str(Path(sys.executable).parent),
                                                os.environ["PATH"]]))  # fmt: skip
    repo = tmp_path / "shop"
    app = (SIDES / "installed_app.py").read_text()
    config = (
        "app:\n  target: shop:app\n  workers: 1\n  setup: pip install -q -r requirements.txt\n"
        '  python: "3.11"\n'
    )  # the app's own Python (here the same minor version)
    commit(repo, {"shop.py": app, "requirements.txt": "", "thresholds.yaml": config + QUICK},
            "base")  # fmt: skip
    extra = PACKAGE.replace('"shopapp"', '"shopextra"').replace('where = ["src"]', 'where = ["."]')
    added = {"requirements.txt": "./extra\n", "extra/pyproject.toml": extra,
             "extra/shopextra/__init__.py": "GREETING = 'hello'\n",
             "shop.py": "import shopextra  # the new dependency\n" + app}  # fmt: skip
    commit(repo, added, "add shopextra")

    for attempt in ("first", "again"):
        status, out, results = _check(repo, "--against", "HEAD~1")
        assert status in (0, 1), capsys.readouterr().err  # both sides ran
        assert results["base_run"]["complete"] and results["run"]["complete"]
        for side, has_it in (("base", False), ("head", True)):
            python = Path(out, "envs", side, "bin", "python")
            found = subprocess.run([python, "-c", "import shopextra"], capture_output=True)
            assert (found.returncode == 0) == has_it, side
            version = subprocess.run([python, "-c", "import sys; print(sys.version_info[:2])"],
                                     capture_output=True, text=True, check=True)  # fmt: skip
            assert version.stdout.strip() == "(3, 11)", side
            log = Path(out, side, "setup.log").read_text()
            # The second check keeps each environment: its dependency files did not change.
            assert ("keeping the environment" in log) == (attempt == "again"), side
    assert processes_with(str(tmp_path)) == []


def test_the_action_reports_a_failing_base_with_exit_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "shop"
    good, broken = _good_and_broken()
    body = QUICK.replace("  - {name: health, path: /health}\n", "")
    commit(repo, {"shop.py": broken, "thresholds.yaml": "app: {target: 'shop:app', "
                   "workers: 1, isolate: false}\n" + body}, "a broken base")  # fmt: skip
    commit(repo, {"shop.py": good}, "fixed")
    (tmp_path / "event.json").write_text('{"ref": "refs/heads/main"}')
    for name, value in {
        "GITHUB_EVENT_PATH": str(tmp_path / "event.json"), "GITHUB_REPOSITORY": "acme/shop",
        "GITHUB_OUTPUT": str(tmp_path / "output.txt"), "INPUT_AGAINST": "HEAD~1",
        "INPUT_COMMENT": "never", "INPUT_SETUP": "echo set up for $PERFGATE_SIDE",
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(repo)
    assert main(["action"]) == 3
    assert "verdict<<" in (text := (tmp_path / "output.txt").read_text()) and "\nerror\n" in text
    report = Path(".perfgate/report.md").read_text()
    assert "Not compared, items: the base answered 500" in report
    assert "set up for base" in Path(".perfgate/base/setup.log").read_text()
