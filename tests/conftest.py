"""Shared fixtures: small configs around real apps, and a check that no process outlives a test."""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import postgres as postgres_server
from tests.faultkit import processes_with
from tests.postgres import PostgresServer

REPO_ROOT = Path(__file__).resolve().parents[1]
# Test this checkout's src/, even when the venv has another perfgate checkout installed.
if str(REPO_ROOT / "src") not in sys.path:
    sys.path.insert(0, str(REPO_ROOT / "src"))
TINY_APP = REPO_ROOT / "tests" / "apps" / "tiny.py"


TINY_CONFIG = """\
app:
  target: "tiny:create_app()"
  workers: 2
  startup_timeout_s: 20
  env: {env}
endpoints:
  - name: health
    path: /health
  - name: items
    path: /items
profile: {{warmup: 10, samples: 200, trials: 4}}
load: {{concurrency: [4], duration_s: 0.6, warmup_s: 0.1}}
budgets:
  default: {{regression: 10%, error_rate: 1%}}
"""


@pytest.fixture
def tiny_config(tmp_path: Path) -> Callable[..., Path]:
    """Write a config for tests/apps/tiny.py (copied beside it) and return its path."""

    def write(env: dict[str, str] | None = None, text: str | None = None) -> Path:
        shutil.copy(TINY_APP, tmp_path / "tiny.py")
        body = text if text is not None else TINY_CONFIG.format(env=dict(env or {}))
        path = tmp_path / "thresholds.yaml"
        path.write_text(textwrap.dedent(body))
        return path

    return write


@pytest.fixture(autouse=True, scope="session")
def host_load_off_by_default() -> Iterator[None]:
    """The machine the suite runs on may be shared: another job's work would make checks that
    other tests expect to fail inconclusive (a busy machine). The suite switches the meter off
    (PERFGATE_HOST_LOAD=0, inherited); tests/test_busy_machine.py switches it back on."""
    before = os.environ.get("PERFGATE_HOST_LOAD")
    os.environ["PERFGATE_HOST_LOAD"] = "0"
    yield
    if before is None:
        os.environ.pop("PERFGATE_HOST_LOAD", None)
    else:
        os.environ["PERFGATE_HOST_LOAD"] = before


@pytest.fixture(autouse=True, scope="session")
def instructions_off_by_default() -> Iterator[None]:
    """Counting instructions under callgrind adds tens of seconds to a check: the suite switches
    it off (PERFGATE_INSTRUCTIONS=0, inherited by every perfgate it starts); the tests of that
    feature switch it back on."""
    before = os.environ.get("PERFGATE_INSTRUCTIONS")
    os.environ["PERFGATE_INSTRUCTIONS"] = "0"
    yield
    if before is None:
        os.environ.pop("PERFGATE_INSTRUCTIONS", None)
    else:
        os.environ["PERFGATE_INSTRUCTIONS"] = before


@pytest.fixture(autouse=True)
def no_orphans(tmp_path: Path) -> object:
    """Fail any test that leaves a process started from its tmp folder behind."""
    yield
    left = processes_with(str(tmp_path))
    assert not left, f"processes left running: {left}"


def require(reason_missing: str | None) -> None:
    """Skip a test whose system tool is missing; in CI (PERFGATE_CI=1) that is a failure."""
    if reason_missing is None:
        return
    if os.environ.get("PERFGATE_CI") == "1":
        pytest.fail(f"CI must provide this: {reason_missing}")
    pytest.skip(reason_missing)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL cluster for the session (tests make their own databases)."""
    require(postgres_server.available())
    yield from postgres_server.start()
