"""The measured data, and the versioned JSON files that hold it (results and baseline).

Schema history (bump SCHEMA_VERSION on any change a reader must know about):
  1 - first version: run (environment, endpoint profiles with per-trial figures, load levels),
      verdict and checks; baseline files keep a history of runs.
    (still 1, optional fields with defaults, so older files read unchanged:) per endpoint
      `queries_per_request` `queries` (statement shapes), `content_encoding`; run `server` and
      `queries_note`; results `findings` and `baseline_load`; check `mde` and `underpowered`; load
      level `trial_rps`; results `mode`, `against` and `base_run`; per load level `model`,
      `target_rps`, `dropped`, `send_lateness_ms`, `client_cpu_share`, `client_limited`, `notes`,
      and `p999` among its latency points; run `reference` (the reference workload's profile) and
      `instances` (app instances the profile rotated over); results `confirmation` (a stored check's
      second measurement) and check `confirmation` (the change it found); per endpoint
      `time_budget_s` and `warmup_ms`, `by_param`, `trial_instance`, `instructions`, `calls`
      (perfgate.evidence), `queries.plans`, `cache_headers`, `identical_body` and `content_type`;
      run `instructions_note` and `pool`; results `changes`; per finding `saving_ms`, `saving_share`
      and `next_run`; run `host_load`; check `se` and `dof`.

Files are written atomically (temp file in the same folder, fsync, rename), so a kill at any
moment leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from perfgate import __version__
from perfgate.database import PoolStats, QueryPlan
from perfgate.errors import ResultsError
from perfgate.evidence import CallCount as CallCount  # re-exported: part of the schema
from perfgate.evidence import EndpointChanges as EndpointChanges
from perfgate.evidence import EndpointInstructions as EndpointInstructions
from perfgate.evidence import FunctionCost as FunctionCost
from perfgate.evidence import Growth as Growth
from perfgate.evidence import ParamFigures as ParamFigures
from perfgate.hostload import HostLoad

SCHEMA_VERSION = 1
BASELINE_HISTORY = 30

_Model = TypeVar("_Model", bound=BaseModel)

Status = Literal["pass", "fail", "inconclusive", "skipped"]
# "error": nothing could be compared (a side failed), so no verdict on the change.
VerdictName = Literal["pass", "fail", "inconclusive", "error"]
Phase = Literal["profile", "load"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LatencySummary(_Frozen):
    """Latency figures in milliseconds."""

    count: int
    min: float
    max: float
    mean: float
    median: float
    stdev: float
    p95: float
    p99: float


class QueryShape(_Frozen):
    """One normalized SQL statement shape seen in one request of an endpoint."""

    shape: str
    count: int
    time_ms: float


class EndpointQueries(_Frozen):
    """SQL statements of one counted request (perfgate.run.inapp.instrument): exact counts."""

    per_request: list[int]
    time_ms: float
    shapes: list[QueryShape]
    plans: list[QueryPlan] = Field(default_factory=list)


class EndpointProfile(_Frozen):
    """Sequential samples of one endpoint: pooled summary plus one figure per trial."""

    name: str
    method: str
    path: str
    latency_ms: LatencySummary | None
    trial_medians_ms: list[float]
    trial_p95_ms: list[float]
    trial_instance: list[int] = Field(default_factory=list)  # each trial's instance (A/B: pair)
    status_codes: dict[str, int]
    errors: dict[str, int]
    requests: int
    error_rate: float
    bytes_mean: float
    samples_ms: list[float] = Field(default_factory=list)
    # Statements per request (median of the counted requests); None where nothing was counted.
    queries_per_request: float | None = None
    queries: EndpointQueries | None = None
    # Content-Encoding answered to `Accept-Encoding: gzip` ("" = none; None = not probed).
    content_encoding: str | None = None
    # Size of the uncompressed body after gzip (level 6), for the payload finding.
    gzip_bytes: int | None = None
    # Deterministic evidence: instructions per request under callgrind, Python calls per request
    # (None = not counted; the run's `instructions_note` / `queries_note` say why).
    instructions: EndpointInstructions | None = None
    calls: list[CallCount] | None = None
    # Where a time budget (profile.time_budget_s) cut the samples: the budget, and the service
    # time measured in the warm-up that the sample count was derived from.
    time_budget_s: float | None = None
    warmup_ms: float | None = None
    # Endpoints with `params`: each value's figures (the statistics use the pooled ones above).
    by_param: list[ParamFigures] = Field(default_factory=list)
    # Probe pass: cache headers present (None = not probed), same bytes in every answer (the
    # last one over a second after the first), Content-Type.
    cache_headers: list[str] | None = None
    identical_body: bool | None = None
    content_type: str | None = None


class LoadEndpoint(_Frozen):
    name: str
    requests: int
    errors: int
    rps: float
    latency_ms: dict[str, float]


class LoadLevel(_Frozen):
    """One time-bounded run at a fixed number of connections (closed loop, or open at a rate).

    The fields after `endpoints` are the engine's self-check: how much CPU the client itself
    used, whether an open-model schedule was kept, and notes when the client (its CPU, open
    files or ephemeral ports) rather than the app may have been the limit.
    """

    concurrency: int
    duration_s: float
    requests: int
    rps: float
    success_rate: float
    latency_ms: dict[str, float]
    errors: dict[str, int]
    status_codes: dict[str, int]
    window_rps: list[float]
    client_cpu_us_per_request: float
    endpoints: list[LoadEndpoint]
    model: Literal["closed", "open"] = "closed"
    target_rps: float | None = None
    dropped: int = 0
    send_lateness_ms: dict[str, float] = Field(default_factory=dict)
    client_cpu_share: float = 0.0  # client CPU seconds per wall second; 1.0 = one whole core
    client_limited: bool = False
    notes: list[str] = Field(default_factory=list)
    # Same-run A/B mode: the level ran as several short trials interleaved with the other side;
    # one throughput figure per trial, paired by index with the other side's.
    trial_rps: list[float] = Field(default_factory=list)


class Environment(_Frozen):
    python: str
    platform: str
    cpus: int
    gunicorn: str | None
    perfgate: str
    git_commit: str | None

    @classmethod
    def capture(cls, folder: Path, gunicorn: str | None) -> Environment:
        return cls(
            python=platform.python_version(),
            platform=f"{platform.system()} {platform.machine()}",
            cpus=os.cpu_count() or 1,
            gunicorn=gunicorn,
            perfgate=__version__,
            git_commit=git_commit(folder),
        )


class ServerSettings(_Frozen):
    """How perfgate ran a gunicorn target (absent for app.command and app.url)."""

    workers: int
    worker_class: str
    threads: int


class RunResult(_Frozen):
    """Everything one measurement run produced; `complete` is False when it stopped early."""

    created_at: str
    config_digest: str
    app: str
    environment: Environment
    endpoints: list[EndpointProfile]
    load: list[LoadLevel]
    complete: bool = True
    incomplete_reason: str | None = None
    server: ServerSettings | None = None
    # Why queries_per_request is null, when it is (switched off, no SQLAlchemy, not a target).
    queries_note: str | None = None
    # The fixed reference workload (perfgate.run.inapp.reference), sampled in every profile trial
    # of a stored-baseline run; None in A/B mode or when compare.reference is off.
    reference: EndpointProfile | None = None
    # How many processes of the app (each started fresh) the profile trials rotated over.
    instances: int = 1
    # Why endpoints carry no instruction counts, when they do not (no valgrind, switched off).
    instructions_note: str | None = None
    pool: PoolStats | None = None  # load-phase pool checkouts (stored mode, 1st instance)
    host_load: HostLoad | None = None  # other processes' CPU per phase; None = older file


class Check(_Frozen):
    """One judged figure. `change` is current/baseline - 1; the interval bounds are ratios - 1."""

    endpoint: str
    phase: Phase
    metric: str
    status: Status
    kind: Literal["absolute", "relative"]
    current: float | None = None
    baseline: float | None = None
    limit: float | None = None
    change: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    message: str = ""
    # The log change's standard error and its t distribution's degrees of freedom (None: normal);
    # mde (ratio - 1): the change the fail rule catches 80% of the time (stats.min_detectable);
    # underpowered: significance, not the tolerance, sets its bar.
    se: float | None = None
    dof: float | None = None
    mde: float | None = None
    underpowered: bool = False
    # Stored-baseline mode: the change a second measurement on fresh app instances found, for a
    # profile check that failed the first one (compare.confirm).
    confirmation: float | None = None


Severity = Literal["CRITICAL", "HIGH", "MEDIUM", "LOW"]


class Finding(_Frozen):
    """A diagnosis (perfgate.judge.diagnose): what, where, how bad, the figures, what to do."""

    endpoint: str
    kind: str
    severity: Severity
    title: str
    evidence: dict[str, float | int | str]
    recommendation: str
    statement: str | None = None
    # judge/advice.py: ms the fix saves per request, share of a worker it frees at the load
    # level that hurt most, how the next run shows it worked.
    saving_ms: float | None = None
    saving_share: float | None = None
    next_run: str | None = None


class LoadPoint(_Frozen):
    """A load level reduced to what a chart needs (the baseline's median over its runs)."""

    concurrency: int
    rps: float
    p50_ms: float | None
    p95_ms: float | None


class ResultsFile(_Frozen):
    schema_version: int = SCHEMA_VERSION
    verdict: VerdictName
    checks: list[Check]
    notes: list[str] = Field(default_factory=list)
    baseline_runs: int = 0
    run: RunResult
    findings: list[Finding] = Field(default_factory=list)
    baseline_load: list[LoadPoint] = Field(default_factory=list)
    # "baseline": judged against the stored baseline history; "ab": base and head measured side
    # by side in this job (`check --against REF`), `base_run` holding the base side.
    mode: Literal["baseline", "ab"] = "baseline"
    against: str | None = None
    base_run: RunResult | None = None
    # Stored-baseline mode: the endpoints that failed a profile change, measured once more on
    # fresh app instances (compare.confirm); a change fails only where both measurements fail it.
    confirmation: RunResult | None = None
    # Per endpoint with a failed change: the exact figures that grew between the base and this run.
    changes: list[EndpointChanges] = Field(default_factory=list)


class BaselineFile(_Frozen):
    schema_version: int = SCHEMA_VERSION
    runs: list[RunResult]


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def git_commit(folder: Path) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True,
                             text=True, timeout=5, check=False)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes the file private (0600); an output is read by whoever reads the folder
        # (the next step of a CI job may run as another user), so give it the usual mode.
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save(path: Path, document: BaseModel) -> None:
    try:
        write_atomic(path, document.model_dump_json(indent=2) + "\n")
    except OSError as exc:
        raise ResultsError(
            f"{path}: cannot write: {exc.strerror}", "choose a writable folder with --out"
        ) from None


def _load(path: Path, model: type[_Model], what: str) -> _Model:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsError(f"{path}: {what} file not found") from None
    except IsADirectoryError:
        raise ResultsError(f"{path}: is a folder, not a {what} file") from None
    except OSError as exc:
        raise ResultsError(f"{path}: cannot read the {what} file: {exc.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        why = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise ResultsError(
            f"{path}: {what} file is not valid JSON ({why})",
            f"it may be truncated; record it again (perfgate {what})",
        ) from None
    version = data.get("schema_version") if isinstance(data, dict) else None
    if version != SCHEMA_VERSION:
        raise ResultsError(
            f"{path}: {what} schema version {version!r}, this perfgate reads {SCHEMA_VERSION}",
            f"record it again with this perfgate (perfgate {what})",
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ResultsError(
            f"{path}: {what} file is damaged at '{where}': {first['msg']}",
            f"record it again (perfgate {what})",
        ) from None


def load_results(path: Path) -> ResultsFile:
    return _load(path, ResultsFile, "results")


def load_baseline(path: Path) -> BaselineFile:
    return _load(path, BaselineFile, "baseline")


def append_to_baseline(path: Path, run: RunResult, keep: int = BASELINE_HISTORY) -> BaselineFile:
    """Add a run to the baseline history, dropping the oldest beyond `keep`."""
    previous = load_baseline(path).runs if path.exists() else []
    baseline = BaselineFile(runs=[*previous, run][-keep:])
    save(path, baseline)
    return baseline
