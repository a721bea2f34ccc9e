"""The busy-machine check: the /proc accounting of other processes' CPU, and the rule that a
failing timing change measured beside it is inconclusive, not failed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from perfgate.config import Config
from perfgate.hostload import HostLoad, PhaseLoad
from perfgate.judge.gate import judge
from perfgate.judge.neighbours import BUSY
from perfgate.measure import neighbours
from perfgate.measure.neighbours import HostMeter, Snapshot, between, snapshot, tree_ticks
from perfgate.results import EndpointProfile, LoadLevel, RunResult
from tests.runs import level, run

linux = pytest.mark.skipif(not Path("/proc/stat").is_file(), reason="/proc is Linux only")
SPIN = [sys.executable, "-c", "while True: pass"]


@linux
def test_a_spinning_process_reads_as_a_core_unless_it_is_ours() -> None:
    # One window, read both ways at once: with this process's tree as "ours" (the spinner is
    # our child, so it is subtracted) and with nothing as ours (the spinner is outside).
    spinner = subprocess.Popen(SPIN)
    try:
        time.sleep(0.2)
        ours_start, none_start = snapshot(), snapshot(roots=[])
        time.sleep(1.0)
        ours_end, none_end = snapshot(), snapshot(roots=[])
    finally:
        spinner.kill()
        spinner.wait()
    excluded = between(ours_start, ours_end, "profile")
    outside = between(none_start, none_end, "profile")
    # The other engineers' work on a shared machine shows in both readings alike; the spinner
    # (about one core, at least half of one even on a busy two-core host) only in the second.
    assert outside.outside_cores >= 0.5
    assert outside.outside_cores - excluded.outside_cores >= 0.5


@linux
def test_a_child_that_exits_mid_phase_still_counts_as_ours() -> None:
    # Its CPU time moves into our cutime when we wait for it: not lost, not outside.
    before = tree_ticks([os.getpid()])
    subprocess.run([sys.executable, "-c", "import time\nt=time.process_time()\n"
                    "while time.process_time() - t < 0.3: pass"], check=True)  # fmt: skip
    after = tree_ticks([os.getpid()])
    assert after - before >= 25  # 0.3 s of CPU at 100 ticks a second, less a tick or two


def test_outside_cores_and_steal_from_the_counters() -> None:
    hz = os.sysconf("SC_CLK_TCK")
    start = Snapshot(wall=10.0, busy=1000, steal=0, total=5000, ours=300)
    # 2 s; the host was busy 3 cores*s, our tree 1.5 of them; 10% of all time stolen.
    end = Snapshot(wall=12.0, busy=1000 + 3 * hz, steal=40, total=5400, ours=300 + int(1.5 * hz))
    load = between(start, end, "load", 8)
    assert load.outside_cores == pytest.approx(0.75)
    assert load.steal_share == pytest.approx(0.1)
    assert load.label == "load c=8"
    # Our tree's counters can run a tick ahead of the host's: never a negative load.
    assert between(start, Snapshot(11.0, 1000, 0, 5000, 310), "profile").outside_cores == 0


def test_without_proc_nothing_is_recorded_and_the_note_says_why(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("PERFGATE_HOST_LOAD")  # the suite's switch (tests/conftest.py)
    monkeypatch.setattr(neighbours, "PROC", tmp_path / "no-proc")
    meter = HostMeter()
    with meter.phase("profile"):
        pass
    assert meter.result() == HostLoad(phases=[], note=neighbours.NO_PROC)
    assert HostMeter(reached_by_url=True).result().note == neighbours.BY_URL
    monkeypatch.setenv("PERFGATE_HOST_LOAD", "0")
    assert HostMeter().result() == HostLoad(phases=[], note=neighbours.SWITCHED_OFF)


# --- the rule, on constructed A/B runs: head is 3x slower than base, profile and load ---

CONFIG = Config.model_validate(
    {
        "app": {"target": "x:app"},
        "endpoints": [{"name": "items", "path": "/items"}],
        "budgets": {"default": {"regression": "10%"}},
    }
)


def _side(median_ms: float, rps: float, busy: dict[str, float] | None = None) -> RunResult:
    trials = [median_ms * f for f in (1.0, 1.02, 0.98, 1.01, 0.99, 1.0)]
    profile = EndpointProfile(
        name="items", method="GET", path="/items", latency_ms=None, trial_medians_ms=trials,
        trial_p95_ms=[m * 1.5 for m in trials], status_codes={"200": 60}, errors={},
        requests=60, error_rate=0.0, bytes_mean=100.0,
    )  # fmt: skip
    load: LoadLevel = level(4, rps).model_copy(
        update={"trial_rps": [rps * f for f in (1.0, 1.02, 0.98, 1.01)]}
    )
    busy = busy or {}
    phases = [
        PhaseLoad(phase="profile", wall_s=2.0, outside_cores=busy.get("profile", 0.0),
                  steal_share=busy.get("steal", 0.0)),
        PhaseLoad(phase="load", concurrency=4, wall_s=1.0, outside_cores=busy.get("load", 0.0),
                  steal_share=0.0),
    ]  # fmt: skip
    return run([profile], [load]).model_copy(update={"host_load": HostLoad(phases=phases)})


def _statuses(head: RunResult, base: RunResult) -> dict[tuple[str, str], tuple[str, str]]:
    verdict = judge(CONFIG, head, None, base)
    return {
        (c.phase, c.metric): (c.status, c.message)
        for c in verdict.checks
        if c.kind == "relative" and c.metric in ("median", "p95", "rps")
    }


def test_a_quiet_machine_fails_the_slowdown() -> None:
    checks = _statuses(_side(3.0, 100.0), _side(1.0, 300.0))
    assert {status for status, _ in checks.values()} == {"fail"}


def test_a_failing_change_in_a_busy_phase_is_inconclusive_with_the_reason() -> None:
    head = _side(3.0, 100.0, {"load": 0.9})
    verdict = judge(CONFIG, head, None, _side(1.0, 300.0))
    rps = next(c for c in verdict.checks if c.metric == "rps" and c.kind == "relative")
    assert rps.status == "inconclusive"
    assert rps.message.startswith(f"{BUSY} 0.9 cores during the load phase at c=4")
    assert "not perfgate, not the app" in rps.message and "rerun on a quiet machine" in rps.message
    # The profile phase was quiet: its changes still fail, and so does the verdict.
    profile = {c.metric: c.status for c in verdict.checks if c.phase == "profile"}
    assert profile["median"] == "fail" and verdict.verdict == "fail"
    assert any(n.startswith("Busy machine:") for n in verdict.notes)


def test_below_the_limit_or_already_passing_nothing_changes() -> None:
    # 0.3 cores is under compare.outside_load (0.5): judged as on a quiet machine.
    checks = _statuses(_side(3.0, 100.0, {"profile": 0.3, "load": 0.3}), _side(1.0, 300.0))
    assert {status for status, _ in checks.values()} == {"fail"}
    # A pass measured in a busy phase stays a pass (contention only slows the measured side).
    same = _statuses(_side(1.0, 300.0, {"profile": 1.0, "load": 1.0}), _side(1.0, 300.0))
    assert {status for status, _ in same.values()} == {"pass"}


def test_steal_counts_as_cores_taken_from_the_host() -> None:
    # 30% of a 2-CPU host's time stolen = 0.6 cores, over the limit.
    checks = _statuses(_side(3.0, 100.0, {"steal": 0.3}), _side(1.0, 300.0))
    status, message = checks["profile", "median"]
    assert status == "inconclusive"
    assert "the hypervisor took 0.6 cores during the profile phase" in message
    assert checks["load", "rps"][0] == "fail"  # the load phase had no steal
