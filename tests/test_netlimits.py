"""The client's own limits (open files, ephemeral ports) and the self-check notes about them."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from perfgate.loadgen.netlimits import (
    PortPressure,
    ensure_file_limit,
    port_range,
    time_wait_count,
    time_wait_total,
)
from perfgate.loadgen.selfcheck import self_check_notes
from perfgate.results import LoadLevel

SRC = Path(__file__).resolve().parent.parent / "src"
TCP_HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt\n"


def tcp_line(local_port: int, remote_port: int, state: str) -> str:
    return (f"   0: 0100007F:{local_port:04X} 0100007F:{remote_port:04X} {state} "
            "00000000:00000000 00:00000000 00000000\n")  # fmt: skip


@pytest.fixture
def restore_nofile() -> Iterator[None]:
    saved = resource.getrlimit(resource.RLIMIT_NOFILE)
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, saved)


def test_soft_file_limit_is_raised_for_many_connections(restore_nofile: None) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1100:
        pytest.skip("the hard open-file limit here is below 1,100")
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    limit = ensure_file_limit(1000)
    assert limit.raised_from == 256
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == limit.soft >= 1000
    assert "raised the open-file limit from 256" in (limit.note(1000) or "")


def test_a_hard_limit_too_low_is_said_not_hidden() -> None:
    # Lowering a hard limit cannot always be undone: do it in a child process.
    script = (
        "import resource\n"
        "from perfgate.loadgen.netlimits import ensure_file_limit\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (100, 100))\n"
        "limit = ensure_file_limit(1000)\n"
        "print(limit.soft, limit.raised_from)\n"
        "print(limit.note(1000))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=60, check=True)  # fmt: skip
    first, note = done.stdout.splitlines()
    assert first == "100 None"
    assert "is 100 (hard limit 100), below the 1000 this run needs" in note and "ulimit -n" in note


def test_time_wait_is_counted_towards_the_app_port_only(tmp_path: Path) -> None:
    tcp = tmp_path / "tcp"
    tcp.write_text(TCP_HEADER + tcp_line(40001, 8000, "06") + tcp_line(8000, 40002, "06")
                   + tcp_line(40003, 9000, "06") + tcp_line(40004, 8000, "01"))  # fmt: skip
    assert time_wait_count(8000, (tcp, tmp_path / "missing")) == 2
    assert time_wait_count(8000, (tmp_path / "missing",)) is None
    sockstat = tmp_path / "sockstat"
    sockstat.write_text("sockets: used 9\nTCP: inuse 3 orphan 0 tw 4321 alloc 4 mem 1\n")
    assert time_wait_total(sockstat) == 4321
    ports = tmp_path / "range"
    ports.write_text("32768\t60999\n")
    assert port_range(ports) == 28232


def test_port_pressure_notes_only_when_it_matters() -> None:
    assert PortPressure(1000, 28232).note("before the run") is None
    assert PortPressure(26000, 28232, reuse=True).note("after the run") is None
    note = PortPressure(26000, 28232).note("after the run") or ""
    assert note.startswith("after the run, 26000 sockets were in TIME_WAIT against 28232")


def level(**changes: object) -> LoadLevel:
    fields: dict[str, object] = dict(
        concurrency=50, duration_s=5, requests=1000, rps=200.0, success_rate=1.0,
        latency_ms={"p50": 1.0}, errors={}, status_codes={"200": 1000}, window_rps=[],
        client_cpu_us_per_request=40.0, endpoints=[],
    )  # fmt: skip
    return LoadLevel.model_validate({**fields, **changes})


def test_self_check_names_who_was_the_limit() -> None:
    assert self_check_notes(level(client_cpu_share=0.5)) == []
    (busy,) = self_check_notes(level(client_cpu_share=0.93, client_limited=True))
    assert "93% of one core" in busy and "the client, not the app" in busy
    behind = self_check_notes(level(model="open", target_rps=400.0, dropped=30))
    assert behind == [
        "achieved 200 of the 400 req/s target (30 dropped): the app could not keep up"
    ]
    (ports,) = self_check_notes(level(errors={"ephemeral_ports_exhausted": 12}))
    assert "12 connects failed with EADDRNOTAVAIL" in ports


def test_running_out_of_file_descriptors_is_its_own_error_kind() -> None:
    # A child process with a hard limit of 60 open files asks for 100 connections.
    from tests import adhoc_http as adhoc

    with adhoc.AdhocServer(adhoc.keep_alive) as server:
        script = (
            "import json, resource\n"
            "from perfgate.config import Endpoint, LoadConfig\n"
            "from perfgate.loadgen.engine import run_level\n"
            "resource.setrlimit(resource.RLIMIT_NOFILE, (60, 60))\n"
            "config = LoadConfig(concurrency=[100], duration_s=0.3, warmup_s=0)\n"
            f"level = run_level({server.url!r}, [Endpoint(name='x', path='/')], config, 100)\n"
            "print(json.dumps({'errors': level.errors, 'notes': level.notes}))\n"
        )
        env = {**os.environ, "PYTHONPATH": str(SRC)}
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              env=env, timeout=60, check=True)  # fmt: skip
    result = json.loads(done.stdout)
    assert result["errors"].get("client_file_limit", 0) > 0
    assert set(result["errors"]) == {"client_file_limit"}  # not blamed on the server
    assert any("open-file limit is 60" in note for note in result["notes"])
    assert any("client hit its open-file limit" in note for note in result["notes"])


def test_connect_errors_name_the_client_limit_they_hit() -> None:
    import errno

    from perfgate.loadgen.client import ErrorKind, connect_error_kind

    assert connect_error_kind(OSError(errno.EADDRNOTAVAIL, "x")) is ErrorKind.PORTS
    assert connect_error_kind(OSError(errno.EMFILE, "x")) is ErrorKind.FILES
    assert connect_error_kind(OSError(errno.ENETUNREACH, "x")) is ErrorKind.CONNECT
