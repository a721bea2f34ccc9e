"""What the statement-counting wrapper costs a timed request, as a ratio in one run.

Starts tests/apps/queries_app.py three times under gunicorn (1 sync worker each): plain,
wrapped by perfgate.run.inapp.instrument, and plain again as a control. Then alternates rounds of
sequential requests between them, so a slow minute of the machine touches all alike, and prints
per endpoint the ratio of median latencies wrapped/plain beside the control's plain-2/plain (what
noise alone gives), and whether the response bytes are identical.

Also the pool hook alone (run/inapp/pool.py), the one part that stays on for timed requests.

    PYTHONPATH=src python bench/instrument_overhead.py [rounds] [samples_per_round]
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from perfgate.config import AppConfig, Endpoint, ProfileConfig
from perfgate.measure.profile import profile_endpoints
from perfgate.run.inapp import instrument, pool
from perfgate.run.server import running_app

REPO = Path(__file__).resolve().parents[1]
PATHS = {"zero": "/health", "three": "/three", "n-plus-one": "/n-plus-one"}


def per_statement_us(engine: Any, count: int) -> float:
    with engine.connect() as conn:
        start = time.perf_counter()
        for _ in range(count):
            conn.exec_driver_sql("SELECT 1").scalar()
        return (time.perf_counter() - start) / count * 1e6


def in_process(count: int = 20_000) -> None:
    """The hook alone, in one process: plain, attached but idle, recording, detached again."""
    import sqlalchemy

    engine = sqlalchemy.create_engine("sqlite://")
    figures: dict[str, list[float]] = {"plain": [], "idle": [], "recording": [], "after": []}
    per_statement_us(engine, count)  # warm-up: first connection, statement cache
    for _ in range(7):  # interleaved blocks
        figures["plain"].append(per_statement_us(engine, count))
        instrument.attach()
        figures["idle"].append(per_statement_us(engine, count))
        instrument._local.recorder = instrument._Recorder()
        figures["recording"].append(per_statement_us(engine, count))
        instrument._local.recorder = None
        instrument.detach()
        figures["after"].append(per_statement_us(engine, count))
    # The fastest block of each: on a busy machine, slow blocks are other processes' doing.
    plain, idle, recording, after = (min(v) for v in figures.values())
    print(f"in process, SELECT 1 on SQLite memory, {count} statements x 7 blocks, per statement:")
    print(f"  listener attached, not recording / plain: {idle / plain:.3f}x "
          f"({idle - plain:+.2f} us on {plain:.2f} us)")  # fmt: skip
    print(f"  recording (probe requests only) / plain:  {recording / plain:.3f}x "
          f"({recording - plain:+.2f} us)")  # fmt: skip
    print(
        f"  after detaching / plain:                  {after / plain:.3f}x "
        "(timed requests: the listener is attached only during probe requests)"
    )


def checkout_us(engine: Any, count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        engine.connect().close()
    return (time.perf_counter() - start) / count * 1e6


def pool_hook(count: int = 20_000) -> None:
    """The pool hook (perfgate.run.inapp.pool), which stays on during timed requests: a
    checkout that does not wait, before and after hooking (a hook cannot be removed, so the
    blocks cannot interleave; the fastest of each)."""
    import sqlalchemy
    from sqlalchemy.pool import QueuePool

    # The hook's writer thread outlives the block: the folder may get one more file.
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as folder:
        engine = sqlalchemy.create_engine(f"sqlite:///{folder}/p.db", poolclass=QueuePool)
        checkout_us(engine, count)  # warm-up: the first connection
        plain = min(checkout_us(engine, count) for _ in range(5))
        pool.hook(Path(folder))
        hooked = min(checkout_us(engine, count) for _ in range(5))
    print(f"pool hook, connect()+close() on a QueuePool, {count} x 5 blocks, per checkout:")
    print(f"  hooked / plain: {hooked / plain:.3f}x ({hooked - plain:+.2f} us on {plain:.2f} us)")


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 6
    samples = int(sys.argv[2]) if len(sys.argv) > 2 else 60
    endpoints = [Endpoint(name=n, path=p) for n, p in PATHS.items()]
    config = ProfileConfig(warmup=5, samples=samples, trials=1)
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        folder = Path(tmp)
        shutil.copy(REPO / "tests" / "apps" / "queries_app.py", folder / "queries_app.py")
        env = {"QUERIES_APP_DB": str(folder / "q.db"), "QUERIES_APP_N": "12"}
        urls = {}
        # A second plain app is the control: plain-2/plain shows what noise alone does.
        for label, count in (("plain", False), ("wrapped", True), ("plain-2", False)):
            app = AppConfig(
                target="queries_app:create_app()", workers=1, env=env, count_queries=count
            )
            urls[label] = stack.enter_context(running_app(app, folder, folder / label)).base_url
        medians: dict[tuple[str, str], list[float]] = {}
        sizes: dict[tuple[str, str], float] = {}
        for _ in range(rounds):
            for label, url in urls.items():
                for p in profile_endpoints([url], endpoints, config):
                    if p.latency_ms:
                        medians.setdefault((label, p.name), []).append(p.latency_ms.median)
                    sizes[(label, p.name)] = p.bytes_mean
    print(f"{rounds} alternating rounds x {samples} sequential requests per endpoint and app")
    for name in PATHS:
        wrapped = statistics.median(medians[("wrapped", name)])
        plain = statistics.median(medians[("plain", name)])
        control = statistics.median(medians[("plain-2", name)])
        same = sizes[("wrapped", name)] == sizes[("plain", name)]
        print(
            f"  {name:<11} wrapped/plain median latency {wrapped / plain:.3f}x "
            f"({wrapped:.3f} vs {plain:.3f} ms), control plain-2/plain {control / plain:.3f}x; "
            f"identical bytes: {same}"
        )


if __name__ == "__main__":
    in_process()
    pool_hook()
    main()
