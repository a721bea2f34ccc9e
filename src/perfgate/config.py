"""thresholds.yaml: read, validate, and hand on as a frozen `Config`.

pydantic lives at this edge only. Every error names the file, the key and the value, and says
what to do; unknown keys are errors (with the closest valid key) so a typo never silently
disables a budget.
"""

from __future__ import annotations

import difflib
import hashlib
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from perfgate.budget_config import Budget as Budget  # re-exported: the schema's own
from perfgate.budget_config import Budgets as Budgets
from perfgate.budget_config import LevelBudget, LoadBudget
from perfgate.endpoints import Endpoint as Endpoint  # re-exported: the schema's own
from perfgate.endpoints import Login, unknown_placeholder
from perfgate.errors import ConfigError
from perfgate.variables import MissingVariable, fill_environment

DEFAULT_CONFIG = "thresholds.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# gunicorn worker classes that serve WSGI apps: only those can take perfgate's WSGI wrapper.
WSGI_WORKERS = frozenset({"sync", "gthread", "gevent", "eventlet", "tornado"})


class AppConfig(_Strict):
    """How to reach the app: a gunicorn target, a command of our own, or a running URL."""

    target: str | None = None
    command: str | None = None
    url: str | None = None
    workers: int = Field(default=2, ge=1, le=64)
    worker_class: str = "sync"
    threads: int = Field(default=1, ge=1, le=256)
    env: dict[str, str] = Field(default_factory=dict)
    secret_env: list[str] = Field(default_factory=list)
    ready_path: str = "/health"
    startup_timeout_s: float = Field(default=30.0, gt=0, le=600)
    # Wrap a gunicorn target to count SQLAlchemy statements per request (perfgate.run.inapp).
    count_queries: bool = True
    # Shell commands run in each side's own tree before its app starts (install, migrate,
    # seed): base first, then head; once in stored mode (perfgate.run.environment).
    setup: list[str] = Field(default_factory=list)
    # One virtual environment per side for the app; on by default when setup or python is given.
    isolate: bool | None = None
    # The Python those environments are made with: a version (uv installs it if missing) or a
    # path; default: the one perfgate runs on.
    python: str | None = None

    @property
    def isolated(self) -> bool:
        """Whether each side's app runs from a virtual environment of its own."""
        return bool(self.setup or self.python) if self.isolate is None else self.isolate

    @field_validator("setup", mode="before")
    @classmethod
    def _commands(cls, value: Any) -> Any:
        commands = [value] if isinstance(value, str) else value
        if isinstance(commands, list):  # a YAML block (`|`) ends with a newline: not part of it
            return [c.strip() if isinstance(c, str) else c for c in commands]
        return commands

    @property
    def wrapped_for_queries(self) -> bool:
        """Whether perfgate runs its statement-counting wrapper around app.target."""
        return bool(self.target and self.count_queries and self.worker_class in WSGI_WORKERS)

    @model_validator(mode="after")
    def _one_way_to_run(self) -> AppConfig:
        given = [k for k in ("target", "command", "url") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of app.target, app.command or app.url"
                + (f" (found {', '.join(given)})" if given else "")
            )
        if self.url and (self.setup or self.isolate or self.python):
            raise ValueError("app.setup, app.isolate and app.python need app.target or app.command")
        if self.python and self.isolate is False:
            raise ValueError("app.python needs an environment per side: drop app.isolate: false")
        if any(not c.strip() for c in self.setup):
            raise ValueError("app.setup holds an empty command")
        if any("\0" in c for c in self.setup):
            raise ValueError("app.setup holds a NUL character (in YAML, write '\\0' to pass \\0)")
        if self.command and "{port}" not in self.command:
            raise ValueError("app.command must contain {port} so perfgate can choose a free port")
        if not self.ready_path.startswith("/"):
            raise ValueError("app.ready_path must start with /")
        return self


# Instructions per request are counted in this many batches: their spread gives the interval.
INSTRUCTION_BATCHES = 3


class ProfileConfig(_Strict):
    warmup: int = Field(default=20, ge=0, le=100_000)
    samples: int = Field(default=900, ge=5, le=1_000_000)
    # 900 samples in 30 trials of 30 requests: in A/A checks of the example this narrowed the
    # spread of the paired estimate by a fifth against 600 in 20 (docs/evidence/defaults.md).
    trials: int = Field(default=30, ge=1, le=1000)
    timeout_s: float = Field(default=10.0, gt=0, le=600)
    # Seconds of timed requests an endpoint may take per side: a slow endpoint gets fewer
    # samples (from its service time in the warm-up), never more than `samples`. None: off.
    time_budget_s: float | None = Field(default=None, gt=0, le=86_400)
    # Untimed requests per endpoint counted under callgrind (perfgate.measure.instructions), in
    # INSTRUCTION_BATCHES batches; 0 or false: instructions are not counted.
    instructions: int = Field(default=15, ge=0, le=10_000)

    @field_validator("instructions", mode="before")
    @classmethod
    def _on_or_off(cls, value: Any) -> Any:
        if value is True:
            return cls.model_fields["instructions"].default
        return 0 if value is False else value

    @model_validator(mode="after")
    def _enough_per_trial(self) -> ProfileConfig:
        if self.samples < self.trials:
            raise ValueError("profile.samples must be at least profile.trials")
        if 0 < self.instructions < INSTRUCTION_BATCHES:
            raise ValueError(
                f"profile.instructions must be 0 (off) or at least {INSTRUCTION_BATCHES}: the "
                f"requests are counted in {INSTRUCTION_BATCHES} batches"
            )
        return self


class LoadConfig(_Strict):
    enabled: bool = True
    concurrency: list[int] = Field(default_factory=lambda: [10, 50])
    duration_s: float = Field(default=5.0, gt=0, le=3600)
    warmup_s: float = Field(default=0.5, ge=0, le=600)
    timeout_s: float = Field(default=10.0, gt=0, le=600)
    # Requests per second on a fixed schedule (the open model); None keeps the closed loop.
    # Each level's concurrency is then the number of connections the schedule may use.
    rate: float | None = Field(default=None, gt=0, le=1_000_000)
    # Same-run A/B mode only: each level runs as this many short trials per side, interleaved
    # with the other side's, so throughput is compared pair by pair.
    trials: int = Field(default=8, ge=2, le=100)

    @field_validator("concurrency")
    @classmethod
    def _levels(cls, value: list[int]) -> list[int]:
        if not value:
            raise ValueError("needs at least one concurrency level")
        if any(level < 1 or level > 10_000 for level in value):
            raise ValueError("each level must be between 1 and 10000")
        return sorted(set(value))


class CompareConfig(_Strict):
    """How sure the gate must be before it says fail or pass."""

    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    # Between-run spread assumed when the baseline history is too short to estimate it (log scale,
    # roughly a coefficient of variation). Runs here spread by about 15% (docs/evidence/noise.md),
    # as a host flipping between a fast and a slow state up to 2x apart; 0.25 keeps such a flip from
    # failing the gate against a single stored run, while a 3x slowdown still fails.
    noise_floor: float = Field(default=0.25, ge=0, le=2)
    # Stored baseline: sample a fixed reference workload in every profile trial and divide the
    # profile figures by it, so a host that got slower between runs is not taken for the code.
    reference: bool = True
    # The between-run spread assumed at least, once figures are divided by the reference: it
    # removes most of the host's drift but not all (docs/how-the-gate-decides.md).
    reference_floor: float = Field(default=0.02, ge=0, le=2)
    # Stored baseline: app instances per run (the reference workload is sampled beside each);
    # profile trials rotate over them. Two processes of the same code differ by a few percent (where
    # the scheduler puts them, their memory layout); a run of one instance carries all of that into
    # the between-run spread, a run of three about 1/sqrt(3) of it (docs/evidence/defaults.md).
    run_instances: int = Field(default=3, ge=1, le=8)
    # Stored baseline: measure the endpoints that fail a profile change once more, on fresh
    # instances, and fail only the changes both measurements find; a slow spell of the host rarely
    # lasts into the second one, a regression in the code always does
    # (docs/how-the-gate-decides.md).
    confirm: bool = True
    strict: bool = False
    # check --against: spread between processes of the same code (log scale), which pairing
    # cannot cancel; measured by A/A runs with two instances per side (docs/evidence/defaults.md).
    ab_floor: float = Field(default=0.01, ge=0, le=1)
    # check --against: instances of each side, started A1 B1 B2 A2 A3 B3 B4 A4 (each side first
    # in half of the pairs); trials rotate over the pairs, so one process's own speed weighs on
    # a quarter of the trials, and the pairs' disagreement is measured (judge.pairs).
    ab_instances: int = Field(default=4, ge=1, le=8)
    # Spread of instructions per request between processes of unchanged code (log scale), which
    # one process's batches cannot show: memory layout moves with any edit or checkout, up to
    # 0.7% measured in A/B (docs/evidence/instructions.md).
    instructions_floor: float = Field(default=0.005, ge=0, le=1)
    # Cores that processes other than perfgate and the app may use on average during a measured
    # phase (or the hypervisor steal) before its failing timing changes are not judged: an idle
    # machine shows about 0.0, one other busy process about 1.0 (docs/evidence/busy-machine.md).
    outside_load: float = Field(default=0.5, gt=0)


class Config(_Strict):
    app: AppConfig
    endpoints: list[Endpoint] = Field(min_length=1)
    profile: ProfileConfig = Field(default_factory=ProfileConfig)
    load: LoadConfig = Field(default_factory=LoadConfig)
    budgets: Budgets = Field(default_factory=Budgets)
    compare: CompareConfig = Field(default_factory=CompareConfig)
    login: Login | None = None
    # Variables whose `${VAR}` values are not secrets (perfgate.variables).
    public: list[str] = Field(default_factory=list)

    # Not from YAML: where the file lives (targets and relative paths resolve against it), its
    # digest, and the values filled in from the environment (masked in every output).
    source: Path = Path(DEFAULT_CONFIG)
    digest: str = ""
    secrets: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _unique_names(self) -> Config:
        names = [e.name for e in self.endpoints]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"endpoint names must be unique; repeated: {', '.join(duplicates)}")
        unknown = sorted(set(self.budgets.endpoints) - set(names))
        if unknown:
            raise ValueError(
                f"budgets.endpoints names unknown endpoint(s) {', '.join(unknown)}; "
                f"known: {', '.join(names)}"
            )
        levels = sorted(set(self.budgets.load.levels) - set(self.load.concurrency))
        if levels:
            raise ValueError(
                f"budgets.load.levels names level(s) {', '.join(map(str, levels))}, which "
                f"load.concurrency does not run ({', '.join(map(str, self.load.concurrency))})"
            )
        problem = unknown_placeholder(self.endpoints, self.login)
        if problem:
            raise ValueError(problem)
        return self

    @property
    def folder(self) -> Path:
        return self.source.resolve().parent


_SECTION_MODELS: dict[str, type[BaseModel]] = {
    "app": AppConfig,
    "profile": ProfileConfig,
    "load": LoadConfig,
    "budgets": Budgets,
    "compare": CompareConfig,
    "login": Login,
}
_HIDDEN = ("source", "digest", "secrets")  # Config fields the file cannot set


def load_config(path: str | Path) -> Config:
    """Read and validate a thresholds file; raise ConfigError with a one-line explanation."""
    path = Path(path)
    try:
        raw_bytes = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: config file not found",
            "create it (see docs/configuration.md) or pass -c/--config",
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from None
    try:
        data = yaml.safe_load(raw_bytes.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text", "save the file as UTF-8") from None
    except RecursionError:
        raise ConfigError(f"{path}: malformed YAML: nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context, start = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and start and mark and start.line != mark.line:
            # The parser notices an unclosed bracket lines later: name where it was opened.
            problem += f" ({context} from line {start.line + 1})"
        raise ConfigError(f"{path}:{where}: malformed YAML: {problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: expected a mapping with 'app' and 'endpoints' at the top",
            "see docs/configuration.md",
        )
    try:
        if any(k in data for k in _HIDDEN):
            raise ConfigError(f"{path}: unknown key among {', '.join(_HIDDEN)}")
        data, filled = fill_environment(data, os.environ, set(map(str, data.get("public") or [])))
    except MissingVariable as exc:
        raise ConfigError(
            f"{path}: {exc.key}: ${{{exc.name}}} is not set in the environment",
            f"export {exc.name} before running perfgate (in GitHub Actions: env: from a secret), "
            f"or write ${{{exc.name}:-default}}",
        ) from None
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_explain(path, exc, data)) from None
    digest = hashlib.sha256(raw_bytes).hexdigest()[:16]
    secrets = tuple(sorted(filled.secrets))
    return config.model_copy(update={"source": path, "digest": digest, "secrets": secrets})


def _explain(path: Path, exc: ValidationError, data: dict[str, Any]) -> str:
    """Turn pydantic's first error into: file: key = value: problem (hint)."""
    error = exc.errors()[0]
    loc = [str(part) for part in error["loc"]]
    key = _dotted(loc, data)
    if error["type"] == "extra_forbidden":
        valid = _valid_keys(loc[:-1], data)
        close = difflib.get_close_matches(loc[-1], valid, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"valid keys: {', '.join(valid)}"
        return f"{path}: unknown key '{key}' ({hint})"
    if error["type"] == "missing":
        return f"{path}: missing required key '{key}'"
    message = error["msg"].removeprefix("Value error, ")
    if key:
        value = error.get("input")
        shown = "" if isinstance(value, dict | list) else f" = {value!r}"
        return f"{path}: {key}{shown}: {message}"
    return f"{path}: {message}"


def _dotted(loc: list[str], data: dict[str, Any]) -> str:
    """Dotted key path, naming endpoints by their name instead of their list index."""
    parts: list[str] = []
    node: Any = data
    for part in loc:
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            item = node[int(part)]
            label = item.get("name") if isinstance(item, dict) else None
            parts[-1] = f"{parts[-1]}[{label or part}]" if parts else f"[{part}]"
            node = item
            continue
        parts.append(part)
        node = node.get(part) if isinstance(node, dict) else None
    return ".".join(parts)


def _valid_keys(loc: list[str], data: dict[str, Any]) -> list[str]:
    model: type[BaseModel] = Config
    if loc and loc[0] in _SECTION_MODELS:
        model = _SECTION_MODELS[loc[0]]
        if loc[0] == "budgets" and len(loc) > 1:
            model = {"load": LevelBudget if "levels" in loc else LoadBudget}.get(loc[1], Budget)
    elif loc and loc[0] == "endpoints":
        model = Endpoint
    return [
        (info.alias or name) for name, info in model.model_fields.items() if name not in _HIDDEN
    ]
