"""SIGINT and SIGTERM to a real `perfgate check` in each phase: it stops every process it
started, writes what it measured (marked interrupted) and exits 130 or 143."""

from __future__ import annotations

import json
import os
import queue
import signal
import threading
import time
from pathlib import Path

import pytest

from tests.faultkit import faulty_app, processes_with, start_perfgate, wait_for, write_config

# Each phase is made long enough that the signal surely lands inside it.
PHASES = {
    "startup": (
        faulty_app({"FAULTY_IMPORT_SLEEP_S": "30"}, extra="  startup_timeout_s: 60\n"),
        "starting the app",
        0.0,
    ),
    # 20 trials of 20 requests of ~50 ms: a trial ends every second.
    "profile": (
        faulty_app({"FAULTY_HANG_S": "0.05"}) + "profile: {warmup: 0, samples: 400, trials: 20}\n",
        "profiling",
        2.5,
    ),
    "load": (
        faulty_app({"FAULTY_HANG_S": "0.01"}) + "profile: {warmup: 0, samples: 5, trials: 1}\n",
        "load test at",
        1.0,
    ),
}
ENDPOINTS = "endpoints:\n  - {name: hang, path: /hang}\n"
LOAD = "load: {concurrency: [2], duration_s: 60, warmup_s: 0}\n"


def _lines(stream: object) -> tuple[queue.Queue[str], threading.Thread]:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stream:  # type: ignore[attr-defined]
            lines.put(line)

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    return lines, thread


def _rest(lines: queue.Queue[str], thread: threading.Thread) -> str:
    thread.join(timeout=10)
    rest = []
    while not lines.empty():
        rest.append(lines.get())
    return "".join(rest)


def _wait_line(lines: queue.Queue[str], text: str, seen: list[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.1)
        except queue.Empty:
            continue
        seen.append(line)
        if text in line:
            return
    raise AssertionError(f"perfgate never said {text!r}: {''.join(seen)}")


@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_in_each_phase(tmp_path: Path, phase: str, sig: signal.Signals) -> None:
    app, cue, settle = PHASES[phase]
    folder = tmp_path / f"signal-{phase}-{sig.name}"
    write_config(folder, app + ENDPOINTS + LOAD)
    marker = str(folder)
    process = start_perfgate(["check", "--out", "out"], cwd=folder)
    seen: list[str] = []
    lines, pump = _lines(process.stderr)
    try:
        _wait_line(lines, cue, seen)
        assert wait_for(lambda: processes_with(marker), timeout=30)
        time.sleep(settle)
        process.send_signal(sig)
        status = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    err = "".join(seen) + _rest(lines, pump)
    assert status == (130 if sig == signal.SIGINT else 143), err
    assert "every process it started was stopped" in err
    assert "Traceback" not in err
    assert processes_with(marker) == []

    run = json.loads((folder / "out" / "results.json").read_text())["run"]
    assert run["complete"] is False
    word = "interrupted by SIGINT" if sig == signal.SIGINT else "stopped by SIGTERM"
    assert run["incomplete_reason"].startswith(word)
    assert phase in run["incomplete_reason"]
    assert (folder / "out" / "report.md").exists()
    if phase == "profile":
        # Whole trials finished before the signal are kept.
        assert run["endpoints"][0]["requests"] >= 20
    if phase == "load":
        assert run["endpoints"][0]["requests"] == 5


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="Linux parent-death signal")
def test_app_stops_even_when_perfgate_is_killed_hard(tmp_path: Path) -> None:
    """SIGKILL reaches no handler; the app still goes, because the kernel tells it its parent
    died (PR_SET_PDEATHSIG) and gunicorn then stops its workers."""
    folder = tmp_path / "hard-kill"
    write_config(folder, faulty_app() + ENDPOINTS.replace("/hang", "/items") + LOAD)
    process = start_perfgate(["check", "--out", "out"], cwd=folder)
    seen: list[str] = []
    try:
        _wait_line(_lines(process.stderr)[0], "load test at", seen)
    finally:
        process.kill()
        process.wait()
    try:
        assert wait_for(lambda: not processes_with(str(folder)), timeout=20)
    finally:
        for pid in processes_with(str(folder)):
            os.kill(pid, signal.SIGKILL)
