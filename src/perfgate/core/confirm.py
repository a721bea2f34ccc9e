"""Stored-baseline mode: a profile change that would fail the gate is measured a second time.

Against a stored baseline, the false alarms that remain come from slow spells of the host that the
reference workload does not follow: measured before this step
(docs/evidence/false-alarms-and-power.md, earlier rows), two of 40 A/A checks against a rolling
history failed, each with three endpoints 20-25% slower at once. A regression lives in the code and
shows again when the same endpoints are measured again on freshly started app instances; a slow
spell has mostly passed by then. So when an endpoint fails, the profile runs once more (same
samples and trials, no load phase) and gate.judge fails only the changes that both measurements
find, reporting the second one's figures (the first was picked because it failed, so it leans
high).

The second profile measures every endpoint, not only the failing ones: an endpoint's latency
depends on what else the trials interleave with it (alone, a bench endpoint read +5% where its
rounds among the others read +10%), so only the baseline's own protocol is comparable with it.
"""

from __future__ import annotations

from perfgate.config import Config
from perfgate.judge.gate import is_timing_change, judge
from perfgate.layout import Layout
from perfgate.measure.session import Progress, RunRecord, Side, measure
from perfgate.results import BaselineFile, RunResult


def confirm(
    config: Config,
    run: RunResult,
    baseline: BaselineFile | None,
    layout: Layout,
    progress: Progress,
) -> RunResult | None:
    """Profile once more when an endpoint fails a profile change in `run` (logs under the
    layout's confirmation folder); None when nothing needs confirming. Raises as measure()
    does."""
    names = endpoints_to_confirm(config, run, baseline)
    if not names:
        return None
    progress(f"slower than the baseline allows: {', '.join(names)}; measuring again to confirm")
    second = confirmation_config(config)
    record = RunRecord(second, Side(None, config.folder, config.app))
    measure(second, layout.confirmation(), record, progress)
    return record.result()


def endpoints_to_confirm(
    config: Config, run: RunResult, baseline: BaselineFile | None
) -> list[str]:
    """The endpoints whose profile timing (median or p95) fails the gate in `run`, in
    configuration order; none when confirmation is off, there is no baseline, or the run is
    incomplete (it fails anyway). Exact checks (statement counts, sizes) are never re-measured:
    noise cannot move them, so their failure stands as it is."""
    if not (config.compare.confirm and baseline and baseline.runs and run.complete):
        return []
    verdict = judge(config, run, baseline)
    failed = {c.endpoint for c in verdict.checks if is_timing_change(c) and c.status == "fail"}
    return [e.name for e in config.endpoints if e.name in failed]


def confirmation_config(config: Config) -> Config:
    """The configuration of the second measurement: every endpoint, profile phase only."""
    return config.model_copy(
        update={
            "load": config.load.model_copy(update={"enabled": False}),
            "profile": config.profile.model_copy(update={"instructions": 0}),
        }
    )
