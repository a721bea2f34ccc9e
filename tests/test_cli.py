"""The commands end to end: real gunicorn, real HTTP on 127.0.0.1, real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from perfgate.cli.main import main
from tests.conftest import REPO_ROOT

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    def invoke(*argv: str | Path) -> tuple[int, str, str]:
        code = main([str(a) for a in argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return invoke


def results_of(out: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((out / "results.json").read_text())


def test_check_without_baseline_judges_absolute_budgets(
    run: Run, tiny_config: Callable[..., Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    code, stdout, _ = run("check", "-c", tiny_config(), "--out", out)
    assert code == 0
    results = results_of(out)
    assert results["verdict"] == "pass"
    assert results["schema_version"] == 1
    for check in results["checks"]:
        assert {"endpoint", "phase", "metric", "status"} <= check.keys()
    assert {c["phase"] for c in results["checks"]} == {"profile", "load"}
    profile = {p["name"]: p for p in results["run"]["endpoints"]}
    assert profile["items"]["requests"] == 200
    assert profile["items"]["bytes_mean"] > 1000
    assert len(profile["items"]["trial_medians_ms"]) == 4
    assert results["run"]["load"][0]["requests"] > 0
    report = (out / "report.md").read_text()
    assert report.startswith("## perfgate: ✅ PASS")
    assert "No baseline" in report
    assert "PASS" in stdout


def test_baseline_then_unchanged_check_does_not_fail(
    run: Run, tiny_config: Callable[..., Path], tmp_path: Path
) -> None:
    config = tiny_config()
    code, stdout, _ = run("baseline", "-c", config, "--out", tmp_path / "b")
    assert code == 0 and "1 run(s)" in stdout
    baseline = tmp_path / ".perfgate" / "baseline.json"
    assert json.loads(baseline.read_text())["runs"][0]["complete"] is True

    code, _, _ = run("check", "-c", config, "--out", tmp_path / "c")
    results = results_of(tmp_path / "c")
    assert code == 0
    assert results["verdict"] in ("pass", "inconclusive")
    assert results["baseline_runs"] == 1
    relative = [c for c in results["checks"] if c["kind"] == "relative"]
    assert {c["metric"] for c in relative} == {"median", "p95", "rps"}
    assert all(c["status"] != "fail" for c in relative)


def test_a_slowed_endpoint_fails_the_gate(
    run: Run, tiny_config: Callable[..., Path], tmp_path: Path
) -> None:
    assert run("baseline", "-c", tiny_config(), "--out", tmp_path / "b")[0] == 0
    slow = tiny_config(env={"TINY_SLOW_PATH": "/items", "TINY_SLOW_MS": "15"})
    code, stdout, _ = run("check", "-c", slow, "--out", tmp_path / "c")
    assert code == 1
    failed = [c for c in results_of(tmp_path / "c")["checks"] if c["status"] == "fail"]
    assert ("items", "profile", "median") in {
        (c["endpoint"], c["phase"], c["metric"]) for c in failed
    }
    assert all(c["endpoint"] != "health" for c in failed if c["phase"] == "profile")
    assert "items profile median" in stdout
    assert (tmp_path / "c" / "report.md").read_text().startswith("## perfgate: ❌ FAIL")


def test_bad_config_exits_2_with_one_line_naming_the_key(
    run: Run, tiny_config: Callable[..., Path]
) -> None:
    config = tiny_config()
    config.write_text(config.read_text().replace("workers: 2", "wrokers: 2"))
    code, stdout, stderr = run("check", "-c", config)
    assert code == 2
    assert stderr.count("\n") == 1
    assert "app.wrokers" in stderr and "workers" in stderr
    assert "Traceback" not in stderr + stdout


def test_app_that_will_not_start_exits_3_with_its_log(
    run: Run, tiny_config: Callable[..., Path], tmp_path: Path
) -> None:
    code, _, stderr = run(
        "check", "-c", tiny_config(env={"TINY_FAIL_IMPORT": "1"}), "--out", tmp_path / "o"
    )
    assert code == 3
    assert "before it was ready" in stderr
    assert "TINY_FAIL_IMPORT" in stderr  # the app's own error, from its log


def test_compare_and_report_work_on_files(
    run: Run, tiny_config: Callable[..., Path], tmp_path: Path
) -> None:
    config = tiny_config()
    assert run("baseline", "-c", config, "--out", tmp_path / "b")[0] == 0
    assert run("check", "-c", config, "--out", tmp_path / "c")[0] == 0
    code, _, _ = run(
        "compare",
        tmp_path / ".perfgate" / "baseline.json",
        tmp_path / "c" / "results.json",
        "-c",
        config,
        "--out",
        tmp_path / "d",
    )
    assert code == 0
    assert results_of(tmp_path / "d")["baseline_runs"] == 1
    code, stdout, _ = run("report", tmp_path / "d" / "results.json")
    assert code == 0 and stdout.startswith("## perfgate:")
    code, stdout, _ = run("report", tmp_path / "d" / "results.json", "--format", "json")
    assert json.loads(stdout)["verdict"] in ("pass", "inconclusive")


def test_damaged_baseline_is_a_clear_error(
    run: Run, tiny_config: Callable[..., Path], tmp_path: Path
) -> None:
    config = tiny_config()
    baseline = tmp_path / "baseline.json"
    baseline.write_text('{"schema_version": 1, "runs": [')
    code, _, stderr = run("check", "-c", config, "--baseline", baseline)
    assert code == 2
    assert str(baseline) in stderr and "not valid JSON" in stderr
    baseline.write_text('{"schema_version": 99, "runs": []}')
    code, _, stderr = run("check", "-c", config, "--baseline", baseline)
    assert code == 2 and "schema version 99" in stderr


def test_python_dash_m_and_console_script_both_run() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")}
    out = subprocess.run(
        [sys.executable, "-m", "perfgate", "--version"], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0 and out.stdout.startswith("perfgate ")
    usage = subprocess.run(
        [sys.executable, "-m", "perfgate", "check", "--nope"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert usage.returncode == 2


def test_the_example_app_end_to_end(run: Run, tmp_path: Path) -> None:
    """The real SoftFactory under gunicorn, with a shortened copy of the shipped config."""
    shipped = (REPO_ROOT / "thresholds.yaml").read_text()
    config = tmp_path / "thresholds.yaml"
    config.write_text(
        shipped.replace(
            "SOFTFACTORY_DB: .perfgate/softfactory.db",
            f"SOFTFACTORY_DB: {tmp_path}/sf.db\n    PYTHONPATH: {REPO_ROOT}",
        )
        .replace("samples: 900", "samples: 20")
        .replace("trials: 30 ", "trials: 10 ")
        .replace("warmup: 20", "warmup: 2")
        .replace("concurrency: [10, 50, 100]", "concurrency: [8]")
        .replace("duration_s: 4", "duration_s: 0.5")
    )
    code, _, stderr = run("check", "-c", config, "--out", tmp_path / "out")
    assert code == 0, stderr
    results = results_of(tmp_path / "out")
    profile = {p["name"]: p for p in results["run"]["endpoints"]}
    assert profile["chef-list"]["status_codes"] == {"200": 20}
    # the N+1 chef list is far slower than health, and the report shows it
    assert (
        profile["chef-list"]["latency_ms"]["median"] > 3 * profile["health"]["latency_ms"]["median"]
    )
    assert "chef-list" in (tmp_path / "out" / "report.md").read_text()
