"""Nothing lost: files are replaced atomically, a bad run never replaces a good baseline, and an
output folder perfgate cannot write is reported before anything is measured."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from perfgate.cli.main import main
from perfgate.errors import ResultsError
from perfgate.results import BaselineFile, load_baseline, load_results
from tests.faultkit import perfgate_env, processes_with, wait_for

# A child that records a big baseline over `old`, and is SIGKILLed at a chosen moment: in the
# middle of writing the temporary file, or after it is written but before the rename.
WRITER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from perfgate import results

    path, ready, moment = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    big = "x" * (8 * 1024 * 1024)
    text = '{"schema_version": 1, "runs": [], "padding": "' + big + big + '"}'
    real_fdopen, real_replace = os.fdopen, os.replace

    class HalfThenStall:
        def __init__(self, handle):
            self.handle = handle
        def __enter__(self):
            return self
        def __exit__(self, *exc):
            return self.handle.__exit__(*exc)
        def write(self, data):
            self.handle.write(data[: len(data) // 2])
            self.handle.flush()
            ready.write_text("writing")
            time.sleep(60)
        def __getattr__(self, name):
            return getattr(self.handle, name)

    def stalled_replace(src, dst):
        ready.write_text("renaming")
        time.sleep(60)

    if moment == "write":
        os.fdopen = lambda *a, **k: HalfThenStall(real_fdopen(*a, **k))
    else:
        os.replace = stalled_replace
    results.write_atomic(path, text)
    """
)


@pytest.mark.parametrize("moment", ["write", "rename"])
def test_kill_9_mid_write_leaves_the_old_baseline_intact(tmp_path: Path, moment: str) -> None:
    path = tmp_path / "baseline.json"
    old = BaselineFile(runs=[]).model_dump_json(indent=2)
    path.write_text(old)
    ready = tmp_path / "ready"
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(ready), moment], env=perfgate_env()
    )
    try:
        assert wait_for(ready.exists, timeout=60)
        temps = list(tmp_path.glob(".baseline.json.*.tmp"))
        assert temps and temps[0].stat().st_size > 1024 * 1024  # really was mid-way
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert path.read_text() == old
    assert load_baseline(path).runs == []


def test_damaged_results_file_is_a_results_error(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match="is a folder, not a results file"):
        load_results(tmp_path)  # a folder, not a file


FAILING_BUDGET = """\
app:
  target: "tiny:create_app()"
  workers: 1
endpoints:
  - {name: items, path: /items}
profile: {warmup: 1, samples: 10, trials: 2}
load: {enabled: false}
budgets:
  default: {p50_ms: 0.0001}
"""


def test_a_run_over_its_budgets_does_not_become_the_baseline(
    tiny_config: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tiny_config(text=FAILING_BUDGET)
    baseline = tmp_path / "kept.json"
    before = BaselineFile(runs=[]).model_dump_json()
    baseline.write_text(before)
    out = str(tmp_path / "o")
    args = ["baseline", "-c", str(config), "--baseline", str(baseline), "--out", out]

    assert main(args) == 1
    err = capsys.readouterr().err
    assert f"{baseline} was not changed" in err
    assert "items p50_ms" in err and "--force" in err
    assert baseline.read_text() == before
    # The refused run is still there to read.
    assert load_results(tmp_path / "o" / "results.json").verdict == "fail"

    assert main([*args, "--force"]) == 0
    assert len(load_baseline(baseline).runs) == 1


def test_a_failed_measurement_never_touches_the_baseline(
    tiny_config: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tiny_config(env={"TINY_FAIL_IMPORT": "1"})
    baseline = tmp_path / "kept.json"
    before = BaselineFile(runs=[]).model_dump_json()
    baseline.write_text(before)
    out = str(tmp_path / "o")
    args = ["baseline", "-c", str(config), "--baseline", str(baseline), "--out", out]
    for extra in ([], ["--force"], ["--replace", "--force"]):
        assert main([*args, *extra]) == 3
        assert baseline.read_text() == before
    capsys.readouterr()
    run = json.loads((tmp_path / "o" / "results.json").read_text())["run"]
    assert run["complete"] is False


@pytest.mark.parametrize("command", ["check", "baseline"])
def test_unwritable_output_folder_is_reported_before_measuring(
    tiny_config: Callable[..., Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    command: str,
) -> None:
    config = tiny_config()
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    status = main([command, "-c", str(config), "--out", str(blocker / "out")])
    err = capsys.readouterr().err
    assert status == 2
    assert f"{blocker / 'out'}: output folder is not writable" in err
    assert "starting the app" not in err
    assert processes_with(str(tmp_path)) == []
    assert not list(tmp_path.rglob("app.log"))


def test_leftover_temp_files_do_not_break_the_next_write(tmp_path: Path) -> None:
    """A killed writer may leave its temporary file behind; the next save is unaffected."""
    from perfgate.results import save

    (tmp_path / ".baseline.json.abc.tmp").write_text("half")
    save(tmp_path / "baseline.json", BaselineFile(runs=[]))
    assert load_baseline(tmp_path / "baseline.json").runs == []
    assert os.path.exists(tmp_path / ".baseline.json.abc.tmp")
