"""Instructions per request: one extra app instance per side, run under callgrind.

Wall time on a shared runner moves by percents between processes and minutes; the number of
instructions a request executes does not depend on the host's mood. Valgrind's callgrind counts
them (simulated, so no hardware counters are needed, which most CI machines lack). perfgate starts
one more instance of the app, with one sync worker, as

    setarch <machine> -R valgrind --tool=callgrind --instr-atstart=no ... gunicorn ...

(`-R`: no address randomization, since object addresses feed hashing and memory layout; a fixed
hash seed; start-up runs at Valgrind's uninstrumented speed). After a warm-up the in-app wrapper
switches instrumentation on and dumps the counts at exact points of its own code (client requests,
perfgate.run.inapp.callgrind): per endpoint, a few batches of untimed requests, each batch one dump
file. Two empty batches first give the cost of the control request itself, which is taken off.

This runs after the timed phases, so it never competes with them for the CPU.
"""

from __future__ import annotations

import http.client
import os
import platform
import shutil
import statistics
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import quote, urlsplit

from perfgate.config import INSTRUCTION_BATCHES, AppConfig, Config, Endpoint
from perfgate.errors import MeasurementError
from perfgate.measure.callgrind_out import Dump, read_dump
from perfgate.measure.login import Session
from perfgate.results import EndpointInstructions, FunctionCost
from perfgate.run.environment import SideEnvironment
from perfgate.run.inapp import callgrind
from perfgate.run.inapp.instrument import CALLGRIND_ENV, CONTROL_PATH
from perfgate.run.server import App, running_app

# Warm-up per endpoint, uninstrumented: Python 3.11 specializes a function's bytecode over its
# first calls, and the app fills its caches. A fixed count, never a time: the state the measured
# requests find must not depend on how fast the machine was.
WARMUP_REQUESTS = 40
# Instructions a batch should cost, about: 10 M take ~0.3 s under callgrind here.
BATCH_INSTRUCTIONS = 10_000_000
KEPT_FUNCTIONS = 40
# Under callgrind a request runs 50-100x slower than natively, start-up some times slower.
SLOWDOWN = 100
HASH_SEED = "1"
# Switches counting off on this machine whatever the config says (`PERFGATE_INSTRUCTIONS=0`): for
# a laptop with Valgrind where a quick check matters more, and the test suite.
SWITCH_ENV = "PERFGATE_INSTRUCTIONS"
# gunicorn's worker timeout, which is also how often an idle sync worker wakes up: rarely, since
# what a wake-up allocates shifts the allocator's state under the next requests.
IDLE_WAKEUP_S = 3600


def why_not_counted(app: AppConfig, requests: int) -> str | None:
    """None when instructions can be counted for this app here, else the reason."""
    if requests == 0:
        return "instructions per request were not counted: switched off (profile.instructions)"
    if os.environ.get(SWITCH_ENV, "").strip().lower() in ("0", "off", "false", "no"):
        return f"instructions per request were not counted: switched off ({SWITCH_ENV})"
    if not app.target:
        return (
            "instructions per request are counted only when perfgate runs the app itself "
            "(app.target)"
        )
    if valgrind() is None:
        return (
            "instructions per request were not counted: valgrind is not installed (Debian and "
            "Ubuntu: apt-get install valgrind; the perfgate image has it)"
        )
    if not callgrind.supported():
        return f"instructions per request are counted on x86-64 only, not {platform.machine()}"
    return None


@cache
def valgrind() -> str | None:
    return shutil.which("valgrind")


@cache
def _no_randomization() -> list[str]:
    """`setarch <machine> -R` where this machine lets a process turn off ASLR, else nothing."""
    setarch = shutil.which("setarch")
    if setarch is None:
        return []
    command = [setarch, platform.machine(), "-R"]
    try:
        done = subprocess.run([*command, "true"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return command if done.returncode == 0 else []


@dataclass(frozen=True)
class Counting:
    """One side to count: its app, tree, log folder, environment, and variables (for its login
    and reset commands)."""

    app: AppConfig
    folder: Path
    log_dir: Path
    environment: SideEnvironment
    env: dict[str, str]


def count_sides(
    config: Config, sides: list[Counting]
) -> list[tuple[dict[str, EndpointInstructions], str | None]]:
    """Each side's instructions per request on a callgrind instance of its own, the sides
    counted side by side (one thread each); with the reason when a side could not be counted.
    Every instance is stopped before this returns, and a thread still counting then fails at
    once, so a Ctrl-C is not held up."""
    found: list[tuple[dict[str, EndpointInstructions], str | None]] = [({}, None)] * len(sides)
    with ExitStack() as stack:
        pool = ThreadPoolExecutor(max_workers=len(sides))
        stack.callback(pool.shutdown, wait=False, cancel_futures=True)  # after the instances
        futures = {}
        for i, side in enumerate(sides):
            try:
                target = stack.enter_context(
                    callgrind_app(config, side.app, side.folder, side.log_dir, side.environment)
                )
            except MeasurementError as exc:
                found[i] = ({}, f"instructions per request were not counted: {exc}")
                continue
            timeout = config.profile.timeout_s * SLOWDOWN
            session = Session(target.app.base_url, config.login, timeout, side.folder, side.env)
            futures[i] = pool.submit(count_instructions, target, config, session)
        for i, future in futures.items():
            try:
                found[i] = (future.result(), None)
            except MeasurementError as exc:
                found[i] = ({}, f"instructions per request were not counted: {exc}")
    return found


@dataclass(frozen=True)
class CallgrindApp:
    """A started callgrind instance: where it answers and where it dumps."""

    app: App
    dumps: Path
    log_dir: Path


@contextmanager
def callgrind_app(
    config: Config, app: AppConfig, folder: Path, log_dir: Path, environment: SideEnvironment
) -> Iterator[CallgrindApp]:
    """Run one instance of `app` under callgrind (stopped when the block is left); call only
    where `why_not_counted` found no reason not to."""
    dumps = (log_dir / "callgrind").resolve()
    shutil.rmtree(dumps, ignore_errors=True)
    dumps.mkdir(parents=True)
    valgrind_path = valgrind()
    assert valgrind_path is not None
    prefix = [
        *_no_randomization(), valgrind_path, "--tool=callgrind", "--instr-atstart=no",
        "--collect-atstart=no",
        f"--callgrind-out-file={dumps}/cg.%p.out", "--log-file=" + str(dumps / "valgrind.log"),
    ]  # fmt: skip
    instance = _callgrind_instance(app)
    # One readiness poll that waits as long as start-up may take: polls that time out while the
    # worker boots would each still reach the app later, a number that depends on the machine's
    # speed, and each request changes the state the counted ones find.
    wait = instance.startup_timeout_s
    with running_app(instance, folder, log_dir, environment, prefix, wait) as started:
        yield CallgrindApp(started, dumps, log_dir)


def count_instructions(
    target: CallgrindApp, config: Config, session: Session
) -> dict[str, EndpointInstructions]:
    """Instructions per request of every endpoint, counted on a running callgrind instance
    (`session`: its login, if the config has one). Only HTTP requests and file reads: safe to
    run in a thread beside another side's count."""
    requests, dumps = config.profile.instructions, target.dumps
    base = urlsplit(target.app.base_url)
    timeout = config.profile.timeout_s * SLOWDOWN
    client = _Client(base.hostname or "127.0.0.1", base.port or 80, timeout, session)
    session.log_in()
    for endpoint in config.endpoints:
        for _ in range(WARMUP_REQUESTS):
            client.send(endpoint)
    if client.control("start") != "on valgrind":
        raise MeasurementError(
            "the callgrind instance does not run under valgrind",
            f"see {dumps / 'valgrind.log'} and {target.log_dir / 'app.log'}",
        )
    # Two empty batches: the second holds exactly one control request's own cost.
    client.control("dump", "overhead-1")
    client.control("dump", "overhead-2")
    _dump(dumps, "overhead-1", total_only=True)
    overhead = _dump(dumps, "overhead-2", total_only=True).total
    counted: dict[str, EndpointInstructions] = {}
    for i, endpoint in enumerate(config.endpoints):
        # One request alone first, to size the batches: a costly endpoint gets fewer requests
        # per batch, so that each batch costs about BATCH_INSTRUCTIONS.
        client.send(endpoint)
        client.control("dump", f"endpoint-{i}-sizing")
        single = max(_dump(dumps, f"endpoint-{i}-sizing", total_only=True).total - overhead, 1)
        per_batch = max(1, min(requests // INSTRUCTION_BATCHES, BATCH_INSTRUCTIONS // single))
        batches = []
        for batch in range(INSTRUCTION_BATCHES):
            session.reset([endpoint])  # a write endpoint starts each batch from the same data
            for _ in range(per_batch):
                client.send(endpoint)
            label = f"endpoint-{i}-batch-{batch}"
            client.control("dump", label)
            batches.append(_dump(dumps, label))
        counted[endpoint.name] = _per_request(batches, overhead, per_batch)
    return counted


def _callgrind_instance(app: AppConfig) -> AppConfig:
    """The app as the callgrind instance runs it: one sync worker, the wrapper that steers
    callgrind, a fixed hash seed, and timeouts that allow for Valgrind's slowness."""
    given = app.env.get("GUNICORN_CMD_ARGS", os.environ.get("GUNICORN_CMD_ARGS", ""))
    cmd_args = " ".join(filter(None, [given, f"--timeout {IDLE_WAKEUP_S}"]))
    env = {
        "PYTHONHASHSEED": HASH_SEED, **app.env, CALLGRIND_ENV: "1", "GUNICORN_CMD_ARGS": cmd_args,
    }  # fmt: skip
    return app.model_copy(
        update={
            "workers": 1,
            "threads": 1,
            "worker_class": "sync",
            "count_queries": True,
            "env": env,
            "startup_timeout_s": max(app.startup_timeout_s * 10, 120.0),
        }
    )


class _Client:
    """Sequential, untimed requests to the callgrind instance, one connection each (as the
    timed phases' sync workers see them): an endpoint's `params` in turn, its login's values;
    a 401 logs in again and sends once more (the login then counts in that batch, rarely)."""

    def __init__(self, host: str, port: int, timeout: float, session: Session) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.session = session
        self.turns: dict[str, int] = {}

    def send(self, endpoint: Endpoint) -> int:
        turn = self.turns[endpoint.name] = self.turns.get(endpoint.name, -1) + 1
        for _ in range(2):
            concrete = self.session.expand(endpoint)
            sent = concrete[turn % len(concrete)]
            status = self._request(sent.method, sent.path, sent.body, sent.headers)[0]
            if not self.session.relogs_on(status, endpoint):
                break
        return status

    def control(self, action: str, label: str = "") -> str:
        path = f"{CONTROL_PATH}/{action}" + (f"?label={quote(label)}" if label else "")
        status, body = self._request("GET", path, None, {})
        return body.strip() if status == 200 else f"HTTP {status}"

    def _request(
        self, method: str, path: str, body: str | None, headers: dict[str, str]
    ) -> tuple[int, str]:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.read().decode("utf-8", errors="replace")
        except (OSError, http.client.HTTPException) as exc:
            raise MeasurementError(
                f"the callgrind instance did not answer {method} {path}: {exc}",
                "see its app.log; raise profile.timeout_s if the endpoint is very slow",
            ) from None
        finally:
            connection.close()


def _dump(folder: Path, label: str, total_only: bool = False) -> Dump:
    """The worker's dump named `label` (written before the control request answered)."""
    for path in sorted(folder.glob("cg.*.out.*"), key=lambda p: -p.stat().st_mtime):
        dump = read_dump(path, total_only)
        if dump.label == label:
            path.unlink()  # read once: the folder stays small, the next search short
            return dump
    raise MeasurementError(
        f"callgrind wrote no dump labelled {label!r} in {folder}",
        f"see {folder / 'valgrind.log'}",
    )


def _per_request(batches: list[Dump], overhead: int, per_batch: int) -> EndpointInstructions:
    figures = [max(d.total - overhead, 0) / per_batch for d in batches]
    return EndpointInstructions(
        per_request=[round(f, 1) for f in figures],
        requests_per_batch=per_batch,
        functions=_top_functions(batches, per_batch * len(batches), statistics.mean(figures)),
    )


def _top_functions(dumps: list[Dump], requests: int, total: float) -> list[FunctionCost]:
    """The costliest functions by inclusive instructions per request, leaving out those that
    hold nearly the whole request (the interpreter's loop, the server's entry points): they grow
    with any change and say nothing about where."""
    summed: dict[str, int] = {}
    for dump in dumps:
        for name, cost in dump.inclusive.items():
            summed[name] = summed.get(name, 0) + cost
    ranked = sorted(summed.items(), key=lambda item: -item[1])
    kept = []
    for key, cost in ranked:
        name, _, where = key.partition("\t")
        if cost / requests < 0.5 * total and not name.startswith("0x"):
            kept.append(
                FunctionCost(name=name, instructions=round(cost / requests, 1), object=where)
            )
    return kept[:KEPT_FUNCTIONS]
