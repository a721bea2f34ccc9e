"""One measurement, in either mode: start the app instances, run the phases, stop every process.

Stored mode (`measure`) starts `compare.run_instances` instances of one tree; A/B
(`measure_pair`) starts `compare.ab_instances` instances of each side, base and head side by side
on 127.0.0.1, each from its own tree (cwd = that tree, so relative paths in app.env such as a
SQLite file stay apart). Both modes run the same phases (profile, SQL-count probe, load), check
between phases that every app still runs, and mark a run whose gunicorn worker died.

What each side has gathered lives in its `RunRecord`, which the caller holds. When a phase fails
or a signal arrives, the error leaves and the record, marked incomplete with the reason, still
builds the RunResult of every phase finished so far: perfgate.core writes it out.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

from perfgate.config import AppConfig, Config
from perfgate.errors import ConfigError, Interrupted, MeasurementError, Terminated
from perfgate.layout import Layout
from perfgate.loadgen.engine import run_level
from perfgate.measure import pool
from perfgate.measure.instructions import Counting, count_sides
from perfgate.measure.instructions import why_not_counted as why_not_instructions
from perfgate.measure.load import fresh_requests, load_level_pair
from perfgate.measure.login import Session
from perfgate.measure.probe import Answer, apply, first_look, probe_endpoints
from perfgate.measure.profile import profile_endpoints, profile_pair
from perfgate.measure.record import RunRecord as RunRecord  # the session's own vocabulary
from perfgate.measure.record import Side as Side
from perfgate.run.environment import SideEnvironment, prepare_side, shared_environment
from perfgate.run.inapp.reference import IN_APP_PATH, OWN_APP_PATH
from perfgate.run.server import App, begin_stopping, nth_instance, running_app
from perfgate.run.target import check_target

Progress = Callable[[str], None]

# How perfgate runs the reference workload when the app is not wrapped: one sync worker is
# enough, it only ever gets one request at a time.
REFERENCE_APP = AppConfig(
    target="perfgate.run.inapp.reference:app", workers=1, ready_path="/", count_queries=False
)


def _quiet(message: str) -> None:
    pass


def measure(config: Config, layout: Layout, record: RunRecord, progress: Progress = _quiet) -> None:
    """Measure the configured app into `record`; the app is stopped before this returns or
    raises (MeasurementError or Interrupted, with `record` marked incomplete)."""
    with _recording([record]):
        _prepare(config, record, layout, progress)
        progress(f"starting the app ({record.description})")
        with ExitStack() as stack:
            apps, reference_urls = _start_instances(stack, config, record, layout)
            watched = [(record, apps)]
            record.description, record.instances = apps[0].description, len(apps)
            sessions = _sessions(config, record, apps, progress)
            timeout = config.profile.timeout_s
            looks = [first_look(apps[0].base_url, config.endpoints, timeout, sessions[0])]
            record.phase = "profile"
            progress(f"profiling {len(config.endpoints)} endpoint(s) on {len(apps)} instance(s)")
            urls = [app.base_url for app in apps]
            with record.host.phase("profile"):
                profiles = profile_endpoints(
                    urls, config.endpoints, config.profile, collected=record.profiles,
                    reference_urls=reference_urls, sessions=sessions,
                )  # fmt: skip
            if reference_urls:
                record.reference = profiles.pop()
            record.profiles = profiles
            _still_running(watched)
            # Statement counts and load: the first instance stands for the app (counts are
            # exact, and one load at a time is all the machine can serve).
            _probe(config, [(record, apps[0], sessions[0])], looks)
            _still_running(watched)
            pool_before = pool.snapshot(apps[0].query_dir)
            for concurrency in config.load.concurrency if config.load.enabled else []:
                record.phase = f"load at {concurrency} connections"
                progress(f"load test at {concurrency} connections")
                requests = fresh_requests(sessions[0], config.endpoints)
                with record.host.phase("load", concurrency):
                    level = run_level(
                        apps[0].base_url, config.endpoints, config.load, concurrency,
                        requests=requests,
                    )  # fmt: skip
                record.levels.append(level)
                _still_running(watched)
            if record.levels:
                record.pool = pool.during_load(apps[0].query_dir, pool_before)
            _count_instructions(config, [record], layout, progress)
            _note_worker_deaths(watched)


def measure_pair(
    config: Config,
    layout: Layout,
    records: tuple[RunRecord, RunRecord],
    seed: int | None = None,
    progress: Progress = _quiet,
) -> None:
    """Measure base and head side by side into their records (base first); every app is
    stopped before this returns or raises, as `measure` does."""
    if config.app.url:
        raise ConfigError(
            f"{config.source}: app.url points at one running app; A/B needs two",
            "use app.target or app.command so perfgate can start base and head itself",
        )
    rng = random.Random(seed)
    records[1].host = host = records[0].host  # one machine, one set of phases for both sides
    with _recording(records), ExitStack() as stack:
        for record in records:  # the base first, then the head
            _prepare(config, record, layout, progress)
        count = config.compare.ab_instances
        progress(f"starting {count} instance(s) of each side ({records[1].description})")
        pairs = _start_pairs(stack, count, records, layout, rng)
        watched = [(record, [pair[i] for pair in pairs]) for i, record in enumerate(records)]
        for i, record in enumerate(records):
            record.description, record.instances = pairs[0][i].description, len(pairs)
        bases, heads = (
            _sessions(config, r, [p[i] for p in pairs], progress) for i, r in enumerate(records)
        )
        sessions = list(zip(bases, heads, strict=True))  # per pair of instances, as `pairs`
        timeout = config.profile.timeout_s
        looks = [first_look(pairs[0][i].base_url, config.endpoints, timeout, sessions[0][i])
                 for i in range(2)]  # fmt: skip
        for record in records:
            record.phase = "profile"
        progress(f"profiling {len(config.endpoints)} endpoint(s), base and head interleaved")
        urls = [(base.base_url, head.base_url) for base, head in pairs]
        with host.phase("profile"):
            records[0].profiles, records[1].profiles = profile_pair(
                urls, config.endpoints, config.profile, rng, sessions
            )
        _still_running(watched)
        _probe(config, [(r, pairs[0][i], sessions[0][i]) for i, r in enumerate(records)], looks)
        _still_running(watched)
        for concurrency in config.load.concurrency if config.load.enabled else []:
            for record in records:
                record.phase = f"load at {concurrency} connections"
            progress(f"load test at {concurrency} connections, base and head in turn")
            with host.phase("load", concurrency):
                levels = load_level_pair(
                    urls, config.endpoints, config.load, concurrency, rng, sessions
                )
            for record, level in zip(records, levels, strict=True):
                record.levels.append(level)
            _still_running(watched)
        _count_instructions(config, list(records), layout, progress)
        _note_worker_deaths(watched)


@contextmanager
def _recording(records: Sequence[RunRecord]) -> Iterator[None]:
    """Mark every record incomplete when the measurement breaks; a signal becomes Interrupted."""
    try:
        yield
    except (MeasurementError, Interrupted) as exc:
        for record in records:
            record.fail(exc.message)
        raise
    except KeyboardInterrupt as exc:
        terminated = isinstance(exc, Terminated)
        what = "stopped by SIGTERM" if terminated else "interrupted by SIGINT"
        for record in records:
            record.fail(what)
        raise Interrupted(what, terminated=terminated) from None


def _prepare(config: Config, record: RunRecord, layout: Layout, progress: Progress) -> None:
    """The side's setup and environment (perfgate.run.environment), then its target checked:
    findable, and, in A/B or an environment of its own, imported from the side itself."""
    side, app = record.side, record.side.app
    record.phase = "setup"
    if app.setup or app.isolated:
        progress(side.says(f"setting up in {side.folder} (log: {layout.setup_log(side.name)})"))
    name = side.name or "head"
    try:
        record.environment = environment = prepare_side(
            app, name, side.folder, layout.environment(name), layout.setup_log(side.name),
            layout.inapp,
        )  # fmt: skip
        guarded = side.name is not None or environment.venv is not None
        own = [side.folder, *([environment.venv] if environment.venv else [])]
        if app.target:
            check_target(
                app, side.folder, config.source, python=environment.python,
                variables=environment.variables(), own=own if guarded else None,
            )  # fmt: skip
    except MeasurementError as exc:
        raise MeasurementError(
            side.says(exc.message), exc.hint, exc.log_tail, exc.log_name
        ) from None
    except ConfigError as exc:
        raise ConfigError(side.says(exc.message), exc.hint) from None
    record.phase = "startup"


def _started(
    stack: ExitStack, side: Side, app: AppConfig, log_dir: Path, environment: SideEnvironment
) -> App:
    try:
        return stack.enter_context(running_app(app, side.folder, log_dir, environment))
    except MeasurementError as exc:
        raise MeasurementError(side.says(exc.message), exc.hint, exc.log_tail) from None


def _start_instances(
    stack: ExitStack, config: Config, record: RunRecord, layout: Layout
) -> tuple[list[App], list[str]]:
    """Start `compare.run_instances` instances of the app (one when it is reached by URL), and
    say where the reference workload answers beside each (none when `compare.reference` is off).

    Where perfgate wraps the app, its own workers answer the reference (perfgate.run.inapp);
    otherwise each instance is followed by a reference app of its own."""
    side, environment = record.side, record.environment
    count = 1 if side.app.url else config.compare.run_instances
    in_process = side.app.wrapped_for_queries
    apps: list[App] = []
    references: list[App] = []
    reference_urls: list[str] = []
    for j in range(count):
        app = nth_instance(side.app, j)
        apps.append(_started(stack, side, app, layout.instance(j), environment))
        if not config.compare.reference:
            continue
        if in_process:
            reference_urls.append(apps[-1].base_url + IN_APP_PATH)
            continue
        reference = Side(side.name, layout.out, REFERENCE_APP)
        references.append(_started(stack, reference, nth_instance(REFERENCE_APP, j),
                                   layout.reference(j), shared_environment()))  # fmt: skip
        reference_urls.append(references[-1].base_url + OWN_APP_PATH)
    # Unwound first: every process is told to stop at once, then each is waited for.
    stack.callback(begin_stopping, apps + references)
    return apps, reference_urls


def _start_pairs(
    stack: ExitStack,
    count: int,
    records: tuple[RunRecord, RunRecord],
    layout: Layout,
    rng: random.Random,
) -> list[tuple[App, App]]:
    """Start `count` instances of each side, in the order A1 B1 B2 A2 ... or B1 A1 A2 B2 ...

    Why more than one instance per side: two processes of the same code differ by a few percent
    (where the scheduler puts them, their memory layout); trials rotate over the pairs, so
    per-instance effects average out; pair j's two apps share one hash seed, drawn for this
    check (nth_instance). Why the drawn, mirrored start order: in A/A runs the side started
    first answered ~1.3% slower, with one or with two instances per side; which side that is
    must be chance, not always the base, and with an even count (the default, 4) each side
    starts first in half of the pairs."""
    first = rng.randrange(2)
    seeds = [rng.randrange(1, 2**32) for _ in range(count)]  # PYTHONHASHSEED: 1 to 2^32 - 1
    started: dict[tuple[int, int], App] = {}
    for j in range(count):
        for i in (first, 1 - first) if j % 2 == 0 else (1 - first, first):
            side = records[i].side
            assert side.name is not None
            app = nth_instance(side.app, j, seeds[j])
            log_dir = layout.side(side.name, j)
            started[i, j] = _started(stack, side, app, log_dir, records[i].environment)
    # Unwound first: every app is told to stop at once, then each is waited for.
    stack.callback(begin_stopping, list(started.values()))
    return [(started[0, j], started[1, j]) for j in range(count)]


def _sessions(
    config: Config, record: RunRecord, apps: list[App], progress: Progress
) -> list[Session]:
    """One session per app instance of the side, logged in when the config has a login."""
    env = {**record.side.app.env, **record.environment.variables()}
    timeout, folder = config.profile.timeout_s, record.side.folder
    sessions = [Session(app.base_url, config.login, timeout, folder, env) for app in apps]
    if config.login:
        record.phase = "login"
        login = config.login
        progress(record.side.says(f"logging in ({login.method} {login.path}) on each instance"))
        for session in sessions:
            session.log_in()
    return sessions


def _probe(
    config: Config, firsts: list[tuple[RunRecord, App, Session]], looks: list[dict[str, Answer]]
) -> None:
    """The untimed probe pass (SQL statements, calls, plans, compression, identical answers)
    on each side's first instance; `looks`: each one's answers from before the profile."""
    for (record, app, session), look in zip(firsts, looks, strict=True):
        record.phase = "query count"
        timeout = config.profile.timeout_s
        probed = probe_endpoints(
            app.base_url, config.endpoints, app.query_dir, timeout, session, look
        )
        record.profiles = apply(record.profiles, probed)
        record.queries_note = probed.note


def _count_instructions(
    config: Config, records: list[RunRecord], layout: Layout, progress: Progress
) -> None:
    """Instructions per request on one callgrind instance per side, the sides side by side
    (perfgate.measure.instructions). Extra evidence: if it breaks, the run goes on without it,
    and the note says why."""
    todo = []
    for record in records:
        app = record.side.app
        record.instructions_note = why_not_instructions(app, config.profile.instructions)
        if record.instructions_note is None:
            record.phase = "instruction count"
            env = {**app.env, **record.environment.variables()}
            log_dir = layout.callgrind(record.side.name)
            todo.append(
                (record, Counting(app, record.side.folder, log_dir, record.environment, env))
            )
    if not todo:
        return
    progress(f"counting instructions per request under callgrind ({len(todo)} instance(s))")
    counted_sides = count_sides(config, [side for _, side in todo])
    for (record, _), (counted, note) in zip(todo, counted_sides, strict=True):
        record.instructions_note = note
        record.profiles = [
            p.model_copy(update={"instructions": counted.get(p.name)}) for p in record.profiles
        ]


def _still_running(watched: list[tuple[RunRecord, list[App]]]) -> None:
    for record, apps in watched:
        for app in apps:
            if not app.exited():
                continue
            code = app.process.returncode if app.process else None
            raise MeasurementError(
                record.side.says(
                    f"the app exited with code {code} during the {record.phase} ({app.description})"
                ),
                "read the app log below",
                log_tail=app.log_tail(),
            )


def _note_worker_deaths(watched: list[tuple[RunRecord, list[App]]]) -> None:
    """A run that finished with a crashed worker is not that of a healthy app: incomplete."""
    for record, apps in watched:
        deaths = [death for app in apps for death in app.worker_deaths()]
        if deaths:
            more = f" and {len(deaths) - 1} more" if len(deaths) > 1 else ""
            record.reason = f"an app worker died during the run: {deaths[0]}{more}"
