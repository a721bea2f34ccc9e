"""The check flows every shell runs: measure (stored or A/B) -> judge -> diagnose -> write.

The CLI and the Action only parse their input, call these and print; bench/power.py calls them too,
so the bench measures the code users run. Every flow that measures goes through one protocol: the
layout removes an earlier run's results and reports first (`Layout.prepare`); if the measurement
breaks (`_measuring`), the runs gathered so far are judged, marked incomplete with the reason, and
written before the error leaves; and however it ends, every app log under the layout is scrubbed of
configured secrets.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from perfgate.config import Config, load_config
from perfgate.console import Console
from perfgate.core.confirm import confirm
from perfgate.core.exits import gate_exit
from perfgate.core.history import history_for_check
from perfgate.errors import ExitStatus, Interrupted, MeasurementError
from perfgate.judge.calibrate import noise_table, render_noise
from perfgate.judge.diagnose import diagnose
from perfgate.judge.gate import judge
from perfgate.judge.whatchanged import what_changed
from perfgate.layout import OUT_FOLDER, Layout, ensure_writable
from perfgate.measure.session import RunRecord, Side, measure, measure_pair
from perfgate.report.charts import baseline_points
from perfgate.report.html import render_html
from perfgate.report.markdown import render_markdown
from perfgate.results import (
    BaselineFile,
    ResultsFile,
    RunResult,
    append_to_baseline,
    load_baseline,
    load_results,
)
from perfgate.run.worktree import base_tree


@dataclass(frozen=True)
class CheckRequest:
    """What `perfgate check` is asked to do, however it was asked (flags or Action inputs)."""

    config: Path
    out: Path | None  # default: .perfgate/ beside the config
    baseline: Path | None = None  # default: .perfgate/baseline.json beside the config
    against: str | None = None  # a git ref: same-run A/B instead of the stored baseline
    seed: int | None = None
    setup: tuple[str, ...] = ()  # more setup commands, run after app.setup (the Action's input)
    python: str | None = None  # the app's Python, instead of app.python (the Action's input)


@dataclass(frozen=True)
class Checked:
    """A check that finished: its results, where they were written, and how it exits."""

    results: ResultsFile
    layout: Layout
    strict: bool
    # A `baseline` run: "" when it was added to the history, else why not; None for a check.
    refused: str | None = None

    def exit_status(self, fail_on: str | None = None) -> ExitStatus:
        if self.refused is not None:  # recording a baseline: did it land?
            return ExitStatus.GATE_FAILED if self.refused else ExitStatus.OK
        return gate_exit(self.results.verdict, strict=self.strict, fail_on=fail_on)


@dataclass(frozen=True)
class BaselineOutcome:
    path: Path
    results: ResultsFile
    runs: int  # how many runs the history holds now
    refused: str | None = None  # why the run was not recorded


def run_check(request: CheckRequest, console: Console) -> Checked:
    config = _config(request, console)
    layout = Layout(out_folder(config, request.out))
    layout.prepare()
    if request.against:
        results = ab_check(config, request.against, layout, console, request.seed)
    else:
        path = baseline_path(config, request.baseline)
        baseline = load_baseline(path) if path.exists() else None
        results = stored_check(config, baseline, layout, console)
    return Checked(results, layout, config.compare.strict)


def run_baseline(
    request: CheckRequest, console: Console, *, replace: bool = False, force: bool = False
) -> Checked:
    """`perfgate baseline` (and the Action's `command: baseline`): measure, and add the run to
    the history if it is sound."""
    config = _config(request, console)
    path = baseline_path(config, request.baseline)
    layout = Layout(out_folder(config, request.out))
    outcome = record_baseline(config, path, layout, console, replace=replace, force=force)
    if outcome.refused:
        console.say(f"error: {path} was not changed: {outcome.refused}")
        console.say("fix the app or the budgets, or pass --force to record this run anyway")
    else:
        console.show(f"Baseline: {path} now holds {outcome.runs} run(s).")
    return Checked(outcome.results, layout, config.compare.strict, outcome.refused or "")


def _config(request: CheckRequest, console: Console) -> Config:
    """The request's config, with its extra setup commands, and its secrets masked from now."""
    config = load_config(request.config)
    if request.setup or request.python:
        update: dict[str, object] = {"setup": [*config.app.setup, *request.setup]}
        if request.python:
            update["python"] = request.python
        config = config.model_copy(update={"app": config.app.model_copy(update=update)})
    console.mask_secrets_of(config)
    return config


def baseline_path(config: Config, given: Path | None = None) -> Path:
    return given or out_folder(config) / "baseline.json"


def out_folder(config: Config, given: Path | None = None) -> Path:
    """Where a run writes: `given`, or `.perfgate/` beside the config (wherever perfgate is run
    from, so a monorepo has one such folder per config, with its baseline)."""
    return given or config.folder / OUT_FOLDER


def ab_check(
    config: Config, ref: str, layout: Layout, console: Console, seed: int | None = None
) -> ResultsFile:
    """Measure git `ref` side by side with the config's tree and judge the head against it."""
    with base_tree(ref, config.folder) as tree:
        against = f"{ref} ({tree.commit[:12]})"
        console.show(f"A/B: base {against} side by side with this tree")
        base = Side("base", tree.folder, config.app)
        head = Side("head", config.folder, config.app)
        base_run, run = measure_ab(config, base, head, layout, console, seed, against=against)
    results = evaluate(config, run, base_run=base_run, against=against)
    write_outputs(results, layout, console)
    return results


def stored_check(
    config: Config, baseline: BaselineFile | None, layout: Layout, console: Console
) -> ResultsFile:
    """Measure the config's tree and judge it against the stored `baseline` history: the runs
    of the segment holding this tree's base commit (perfgate.core.history)."""
    history = history_for_check(baseline, config.folder)
    run, confirmation = measure_stored(config, history.baseline, layout, console)
    results = evaluate(
        config, run, history.baseline, confirmation=confirmation, notes=history.notes
    )
    write_outputs(results, layout, console)
    return results


def measure_stored(
    config: Config, baseline: BaselineFile | None, layout: Layout, console: Console
) -> tuple[RunResult, RunResult | None]:
    """One stored-mode run, and the second measurement of what it fails (perfgate.core.confirm);
    if that second one breaks, the first measurement stands."""
    record = RunRecord(config, Side(None, config.folder, config.app))
    with _measuring(config, layout, console, [record], baseline):
        measure(config, layout, record, console.say)
        run = console.scrub_run(record.result())
        try:
            second = confirm(config, run, baseline, layout, console.say)
        except MeasurementError as exc:
            console.say(f"the confirmation failed ({exc.message}); the first measurement stands")
            second = None
    return run, second and console.scrub_run(second)


def measure_ab(
    config: Config,
    base: Side,
    head: Side,
    layout: Layout,
    console: Console,
    seed: int | None = None,
    *,
    against: str | None = None,
    keep_partial: bool = True,
) -> tuple[RunResult, RunResult]:
    """Both sides measured side by side: (base run, head run)."""
    records = (RunRecord(config, base), RunRecord(config, head))
    with _measuring(config, layout, console, records, against=against, keep=keep_partial):
        measure_pair(config, layout, records, seed, console.say)
    base_run, head_run = (console.scrub_run(r.result()) for r in records)
    return base_run, head_run


def evaluate(
    config: Config,
    run: RunResult,
    baseline: BaselineFile | None = None,
    base_run: RunResult | None = None,
    against: str | None = None,
    confirmation: RunResult | None = None,
    notes: Sequence[str] = (),
) -> ResultsFile:
    """Judge and diagnose a measured run: the results file, not yet written. `notes` about the
    stored history come first."""
    verdict = judge(config, run, baseline, base_run, confirmation)
    history = [base_run] if base_run else baseline.runs if baseline else []
    return ResultsFile(
        verdict=verdict.verdict,
        checks=verdict.checks,
        notes=[*notes, *verdict.notes],
        baseline_runs=verdict.baseline_runs,
        run=run,
        findings=diagnose(run),
        changes=what_changed(run, history, verdict.checks),
        baseline_load=baseline_points(history),
        mode="ab" if base_run else "baseline",
        against=against,
        base_run=base_run,
        confirmation=confirmation,
    )


def write_outputs(results: ResultsFile, layout: Layout, console: Console) -> None:
    console.write_text(layout.results, results.model_dump_json(indent=2) + "\n")
    console.write_text(layout.report, render_markdown(results))
    console.write_text(layout.html, render_html(results))


def record_baseline(
    config: Config,
    path: Path,
    layout: Layout,
    console: Console,
    *,
    replace: bool = False,
    force: bool = False,
) -> BaselineOutcome:
    """Measure and add the run to the baseline history at `path`, if the run is sound: a
    baseline every later pull request is judged against must not be incomplete or over budget
    (unless `force`)."""
    if path.exists() and not replace:
        load_baseline(path)  # refuse to append to a damaged file before spending minutes measuring
    layout.prepare()
    ensure_writable(path.parent)
    run, _ = measure_stored(config, None, layout, console)
    results = evaluate(config, run)
    write_outputs(results, layout, console)
    failed = [c for c in results.checks if c.status == "fail"]
    if (failed or not run.complete) and not force:
        why = (
            f"the run is incomplete ({run.incomplete_reason})"
            if not run.complete
            else f"the run failed {len(failed)} absolute budget(s), first: "
            f"{failed[0].endpoint} {failed[0].metric}: {failed[0].message}"
        )
        held = len(load_baseline(path).runs) if path.exists() else 0
        return BaselineOutcome(path, results, held, refused=why)
    if replace:
        path.unlink(missing_ok=True)
    return BaselineOutcome(path, results, len(append_to_baseline(path, run).runs))


def recompare(
    config: Config, baseline: Path, results_file: Path, layout: Layout, console: Console
) -> Checked:
    """Judge a results file again, against another baseline file, without measuring."""
    stored = load_baseline(baseline)
    earlier = load_results(results_file)
    # The segment of the run's own commit, as the check that measured it would have chosen.
    history = history_for_check(stored, config.folder, earlier.run.environment.git_commit)
    layout.prepare(measuring=False)
    # A confirmation measured for this run is evidence against any baseline; it is reused.
    results = evaluate(
        config,
        earlier.run,
        history.baseline,
        confirmation=earlier.confirmation,
        notes=history.notes,
    )
    write_outputs(results, layout, console)
    return Checked(results, layout, config.compare.strict)


def calibrate(config: Config, layout: Layout, console: Console, seed: int | None = None) -> str:
    """A/A: two sides of the same tree side by side; the noise table, rendered."""
    ensure_writable(layout.out)
    same = (Side("base", config.folder, config.app), Side("head", config.folder, config.app))
    first, second = measure_ab(config, *same, layout, console, seed, keep_partial=False)
    return render_noise(noise_table(config, first, second))


@contextmanager
def _measuring(
    config: Config,
    layout: Layout,
    console: Console,
    records: Sequence[RunRecord],
    baseline: BaselineFile | None = None,
    *,
    against: str | None = None,
    keep: bool = True,
) -> Iterator[None]:
    """The one partial-results protocol (see the module's docstring). `records` are the sides
    being measured, the base first in A/B."""
    try:
        yield
    except (MeasurementError, Interrupted):
        if keep:
            runs = [console.scrub_run(r.result()) for r in records]
            base_run = runs[0] if len(runs) == 2 else None
            write_outputs(evaluate(config, runs[-1], baseline, base_run, against), layout, console)
            what = "run, unconfirmed," if all(r.complete for r in runs) else "incomplete run"
            console.say(f"the {what} was written to {layout.results} and report.md")
        raise
    finally:
        for log in layout.app_logs():
            console.scrub_file(log)
