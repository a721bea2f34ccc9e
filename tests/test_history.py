"""A step on main, end to end: a real git repository, a baseline history whose runs carry its
commits (one real recorded run, its figures rescaled per commit so that main got slower at one
of them), and a real `perfgate check` of a pull request after the step: the step is reported
at its commit, and the check compares with the runs since, so it does not read main's change
as its own. And `perfgate history`, and what happens where git cannot place the base."""

from __future__ import annotations

import json
import math
import random
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from perfgate.cli.main import main
from perfgate.config import load_config
from perfgate.core.history import history_for_check
from perfgate.judge.gate import judge
from perfgate.results import BaselineFile, RunResult, load_baseline, load_results, save
from tests.faultkit import git

CONFIG = """\
app:
  target: "tiny:create_app()"
  workers: 1
  startup_timeout_s: 20
endpoints:
  - {name: health, path: /health}
  - {name: items, path: /items}
profile: {warmup: 10, samples: 150, trials: 5}
load: {enabled: false}
budgets:
  default: {regression: 10%, error_rate: 1%}
compare: {run_instances: 1}
"""
# Main was this much faster before the step: the runs before it are the real run divided by it.
# Large, because the real run of the check may differ from the recorded one by tens of percent
# on a busy machine, and "near no change rather than near the step" must hold through that.
STEP = 3.0
BEFORE, AFTER = 10, 4  # runs on main before the step and from it on


def rescaled(run: RunResult, factor: float, commit: str, when: datetime) -> RunResult:
    """`run` as if main had been `factor` times as slow, measured at `commit` at `when`. The
    reference workload is left as measured: the host was the same, the code was not."""
    endpoints = [
        p.model_copy(
            update={
                "trial_medians_ms": [v * factor for v in p.trial_medians_ms],
                "trial_p95_ms": [v * factor for v in p.trial_p95_ms],
                "samples_ms": [v * factor for v in p.samples_ms],
            }
        )
        for p in run.endpoints
    ]
    environment = run.environment.model_copy(update={"git_commit": commit})
    update = {"endpoints": endpoints, "environment": environment, "created_at": when.isoformat()}
    return run.model_copy(update=update)


@pytest.fixture
def repo_with_a_step(tiny_config: Callable[..., Path], tmp_path: Path) -> tuple[Path, list[str]]:
    """The config's folder as a git repository with one commit per baseline run on main, and
    the baseline file: main got STEP times slower at commit number BEFORE."""
    path = tiny_config(text=CONFIG)
    repo = path.parent
    (repo / ".gitignore").write_text(".perfgate/\nrecorded/\n__pycache__/\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "first")
    commits = [git(repo, "rev-parse", "HEAD").strip()]
    for number in range(1, BEFORE + AFTER):
        git(repo, "commit", "--allow-empty", "-qm", f"main {number}")
        commits.append(git(repo, "rev-parse", "HEAD").strip())
    baseline = repo / ".perfgate" / "baseline.json"
    assert main(["baseline", "-c", str(path), "--out", str(repo / "recorded")]) == 0
    (measured,) = load_baseline(baseline).runs
    # Runs on separate pushes, 8 hours apart, each off its level by some percent, as runs of
    # main are (8%: wide enough that the check's run, on another moment of the host, passes).
    rng, start = random.Random(4), datetime(2026, 11, 20, tzinfo=UTC)
    runs = [
        rescaled(
            measured,
            (1 / STEP if number < BEFORE else 1.0) * math.exp(rng.gauss(0, 0.08)),
            commit,
            start + timedelta(hours=8 * number),
        )
        for number, commit in enumerate(commits)
    ]
    save(baseline, BaselineFile(runs=runs))
    return path, commits


def test_a_pull_request_after_a_step_on_main_compares_with_the_runs_since(
    repo_with_a_step: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    path, commits = repo_with_a_step
    repo = path.parent
    git(repo, "checkout", "-qb", "pr")
    (repo / "README.md").write_text("no change of performance\n")
    git(repo, "add", "README.md")
    git(repo, "commit", "-qm", "a pull request with no change of its own")

    out = repo / "checked"
    assert main(["check", "-c", str(path), "--out", str(out)]) == 0  # pass or inconclusive
    results = load_results(out / "results.json")
    stepped = commits[BEFORE][:7]
    step_note = next(n for n in results.notes if n.startswith("main got"))
    assert f"x slower at {stepped} (2026-11-23)" in step_note
    assert "items median" in step_note
    assert step_note.endswith(f"this check compares with the {AFTER} run(s) since.")
    assert results.baseline_runs == AFTER
    medians = {
        c.endpoint: c.change
        for c in results.checks
        if c.kind == "relative" and c.metric == "median" and c.change is not None
    }
    assert set(medians) == {"health", "items"}
    # Against the runs since the step: this tree is as fast as they are, give or take the host
    # (nearer no change than the step).
    assert all(abs(math.log1p(c)) < math.log(STEP) / 2 for c in medians.values()), medians

    # Judged against the whole history, the same run reads main's step as its own: the estimate
    # moves by the share of pre-step runs times the step (the host is the same in all runs).
    whole = load_baseline(repo / ".perfgate" / "baseline.json")
    unsegmented = judge(load_config(path), results.run, whole).checks
    for name, change in medians.items():
        read = next(
            c.change for c in unsegmented
            if c.endpoint == name and c.kind == "relative" and c.metric == "median"
        )  # fmt: skip
        assert read is not None
        moved = math.log1p(read) - math.log1p(change)
        assert moved == pytest.approx(BEFORE / (BEFORE + AFTER) * math.log(STEP), abs=0.1)

    # Judged again later (`perfgate compare`), the run is placed by its own commit: same segment.
    baseline_file = repo / ".perfgate" / "baseline.json"
    again = repo / "again"
    argv = ["compare", str(baseline_file), str(out / "results.json"), "-c", str(path)]
    main([*argv, "--out", str(again)])
    assert load_results(again / "results.json").baseline_runs == AFTER

    # `perfgate history` prints the step and the runs a check from here uses.
    capsys.readouterr()
    assert main(["history", "-c", str(path)]) == 0
    shown = capsys.readouterr().out
    assert f"at run {BEFORE + 1}, {stepped} (2026-11-23)" in shown
    assert "items median" in shown and "health p95" in shown
    total = BEFORE + AFTER
    assert f"Segment: runs {BEFORE + 1}-{total} (base: run {total}, {commits[-1][:7]}" in shown
    assert f"compares with runs {BEFORE + 1}-{total} ({AFTER} run(s)" in shown


def test_a_branch_from_before_the_step_compares_with_the_runs_before_it(
    repo_with_a_step: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    path, commits = repo_with_a_step
    repo = path.parent
    git(repo, "checkout", "-qb", "old", commits[2])
    baseline = load_baseline(repo / ".perfgate" / "baseline.json")
    stored = history_for_check(baseline, repo)
    assert stored.baseline is not None
    assert stored.baseline.runs == baseline.runs[:BEFORE]
    (note,) = [n for n in stored.notes if n.startswith("main got")]
    assert "after this tree's base commit" in note and f"the {BEFORE} run(s) before it" in note
    assert main(["history", "-c", str(path)]) == 0
    assert f"Segment: runs 1-{BEFORE} (base: run 3, {commits[2][:7]}" in capsys.readouterr().out

    # Without git's answer (a folder outside the repository), the newest segment, and a note.
    with tempfile.TemporaryDirectory() as elsewhere:
        unplaced = history_for_check(baseline, Path(elsewhere))
    assert unplaced.baseline is not None and unplaced.baseline.runs == baseline.runs[BEFORE:]
    assert any("could not be placed" in n for n in unplaced.notes)


def test_history_without_a_baseline_file_is_a_usage_error_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere" / "baseline.json"
    assert main(["history", "--baseline", str(missing)]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "perfgate baseline" in err
    # A file that is there but damaged: the same exit, and its own message.
    missing.parent.mkdir()
    missing.write_text(json.dumps({"schema_version": 1, "runs": "no"}))
    assert main(["history", "--baseline", str(missing)]) == 2
    assert "damaged" in capsys.readouterr().err
