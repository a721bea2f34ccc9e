"""Whether base and head can be compared at all: a side that fails is reported, not compared.

A base that answers 500 is fast because its errors are cheap; comparing the head's real work with
it would blame the head for the base's breakage (and a statement count of an error path says
nothing about the endpoint). So in A/B an endpoint, or a load level, whose base or head failed
more requests than its error budget allows, or whose sides mostly answered with different status
codes, gets no relative or growth check: they are skipped with the reason, which the report
shows first.
"""

from __future__ import annotations

from perfgate.config import Config
from perfgate.results import EndpointProfile, LoadLevel, RunResult

# The error share that stops a comparison when the budget sets none.
DEFAULT_ERROR_LIMIT = 0.01


def incomparable(config: Config, run: RunResult, base_run: RunResult) -> dict[str, str]:
    """Why each endpoint (by name) or load level (by `load_key`) cannot be compared; the others
    are absent."""
    reasons: dict[str, str] = {}
    base_profiles = {p.name: p for p in base_run.endpoints}
    for head in run.endpoints:
        base = base_profiles.get(head.name)
        limit = _limit(config.budgets.for_endpoint(head.name).error_rate)
        expected = next((e.expect_status for e in config.endpoints if e.name == head.name), [200])
        problem = _profile_problem(base, head, limit, expected) if base else None
        if problem:
            reasons[head.name] = problem
    base_levels = {lv.concurrency: lv for lv in base_run.load}
    limit = _limit(config.budgets.default.error_rate)
    for level in run.load:
        base_level = base_levels.get(level.concurrency)
        problem = _load_problem(base_level, level, limit) if base_level else None
        if problem:
            reasons[load_key(level.concurrency)] = problem
    return reasons


def load_key(concurrency: int) -> str:
    return f"all @ c={concurrency}"


def _limit(budget: float | None) -> float:
    return DEFAULT_ERROR_LIMIT if budget is None else budget


def _profile_problem(
    base: EndpointProfile, head: EndpointProfile, limit: float, expected: list[int]
) -> str | None:
    for side, profile in (("base", base), ("head", head)):
        if profile.requests and profile.error_rate > limit:
            failed = round(profile.error_rate * profile.requests)
            what = _failure_kinds(profile.status_codes, profile.errors, expected)
            return f"the {side} {what} on {failed} of {profile.requests} requests"
    return _different_statuses(base.status_codes, head.status_codes, limit)


def _load_problem(base: LoadLevel, head: LoadLevel, limit: float) -> str | None:
    for side, level in (("base", base), ("head", head)):
        if level.requests and 1 - level.success_rate > limit:
            what = _failure_kinds(level.status_codes, level.errors, None)
            return f"the {side} {what} on {1 - level.success_rate:.0%} of {level.requests} requests"
    return _different_statuses(base.status_codes, head.status_codes, limit)


def _failure_kinds(
    statuses: dict[str, int], errors: dict[str, int], expected: list[int] | None
) -> str:
    """What the failed requests got: the unexpected statuses and the client-side errors."""
    unexpected = [
        code for code in statuses
        if (int(code) not in expected if expected else not 200 <= int(code) < 400)
    ]  # fmt: skip
    kinds = [k for k in errors if k != "unexpected_status"]
    if unexpected:
        said = "answered " + ", ".join(unexpected)
        return said + (f" (and got {', '.join(kinds)})" if kinds else "")
    return "got " + (", ".join(kinds) or "errors")


def _different_statuses(base: dict[str, int], head: dict[str, int], limit: float) -> str | None:
    """The statuses that make up more than `limit` of each side's answers, when they differ."""

    def main(codes: dict[str, int]) -> set[str]:
        total = sum(codes.values())
        return {code for code, n in codes.items() if total and n / total > limit}

    if main(base) == main(head):
        return None
    return (
        f"the sides answered with different status codes (base {_shares(base)}; "
        f"head {_shares(head)})"
    )


def _shares(codes: dict[str, int]) -> str:
    return ", ".join(f"{code}: {n}" for code, n in sorted(codes.items())) or "none"
