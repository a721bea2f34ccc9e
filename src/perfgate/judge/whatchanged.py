"""What changed in a regressed endpoint: the exact figures that grew between base and head.

Wall time says that an endpoint got slower; the deterministic evidence says where: the app's
Python functions called more often per request (perfgate.run.inapp.calls), libraries whose code
ran more, the C functions (interpreter, extension modules, SQLite) whose inclusive instruction
counts grew (callgrind), and the SQL statements that ran more often. Only figures that both
sides measured are compared, and only growth is listed, largest first.
"""

from __future__ import annotations

from collections.abc import Sequence

from perfgate.results import Check, EndpointChanges, EndpointProfile, Growth, RunResult

SHOWN = {"calls": 5, "library calls": 3, "instructions": 5, "statements": 3}
# Library calls and instructions grow a little with any change: only a growth of this share is
# listed.
MIN_SHARE = 0.05


def what_changed(
    run: RunResult, history: Sequence[RunResult], checks: list[Check]
) -> list[EndpointChanges]:
    regressed = [
        c.endpoint
        for c in checks
        if c.status == "fail" and c.kind == "relative" and c.phase == "profile"
    ]
    changes = []
    for name in dict.fromkeys(regressed):
        head = next((p for p in run.endpoints if p.name == name), None)
        base = _newest(name, history)
        if head is None or base is None:
            continue
        growth = _calls(base, head) + _instructions(base, head) + _statements(base, head)
        if growth:
            changes.append(EndpointChanges(endpoint=name, growth=growth))
    return changes


def _newest(name: str, history: Sequence[RunResult]) -> EndpointProfile | None:
    for run in reversed(history):
        for profile in run.endpoints:
            if profile.name == name:
                return profile
    return None


def _grown(kind: str, base: dict[str, float], head: dict[str, float], share: float) -> list[Growth]:
    rows = [
        Growth.model_validate({"kind": kind, "name": key, "base": base[key], "head": value})
        for key, value in head.items()
        if key in base and value > base[key] * (1 + share) and value > base[key]
    ]
    rows.sort(key=lambda g: (-(g.head - g.base), g.name))
    return rows[: SHOWN[kind]]


def _calls(base: EndpointProfile, head: EndpointProfile) -> list[Growth]:
    if base.calls is None or head.calls is None:
        return []

    def app(profile: EndpointProfile, mine: bool) -> dict[str, float]:
        return {c.name: c.calls for c in profile.calls or [] if c.app == mine}

    functions = _grown("calls", {**{k: 0.0 for k in app(head, True)}, **app(base, True)},
                       app(head, True), 0.0)  # fmt: skip
    return functions + _grown("library calls", app(base, False), app(head, False), MIN_SHARE)


def _instructions(base: EndpointProfile, head: EndpointProfile) -> list[Growth]:
    if base.instructions is None or head.instructions is None:
        return []

    def costs(profile: EndpointProfile) -> dict[str, float]:
        assert profile.instructions is not None
        return {
            f"{f.name} ({f.object})" if f.object else f.name: f.instructions
            for f in profile.instructions.functions
        }

    return _grown("instructions", costs(base), costs(head), MIN_SHARE)


def _statements(base: EndpointProfile, head: EndpointProfile) -> list[Growth]:
    if base.queries is None or head.queries is None:
        return []
    before = {s.shape: float(s.count) for s in base.queries.shapes}
    after = {s.shape: float(s.count) for s in head.queries.shapes}
    return _grown("statements", {**{k: 0.0 for k in after}, **before}, after, 0.0)
