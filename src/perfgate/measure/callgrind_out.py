"""Read callgrind's output files: the dump's label, its total, and each function's costs.

The format (Valgrind's "Callgrind Format Specification"): header lines `key: value` (`desc:
Trigger: Client Request: <label>`, `events:`, `summary:`/`totals:`), then per function a `fn=`
line followed by cost lines `<position> <cost>`; a `calls=` line says the next cost line is what
a call to `cfn=` cost, inclusive. Names are compressed: `fn=(7) name` defines id 7, `fn=(7)`
refers back. perfgate asks only for the default event (Ir, instructions executed) and line
positions, so a cost line is two numbers (a position may be relative: `+2`, `-1`, `*`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_NAMED = re.compile(r"\((\d+)\)(?:\s+(.*))?")
_RECURSION = re.compile(r"'\d+$")  # callgrind's suffix for a recursion level: one function
TRIGGER = "Trigger: Client Request: "


@dataclass
class Dump:
    """One dump; functions are keyed `name<TAB>object file` (object: its basename)."""

    label: str
    total: int
    self_cost: dict[str, int] = field(default_factory=dict)
    inclusive: dict[str, int] = field(default_factory=dict)


def read_dump(path: Path, total_only: bool = False) -> Dump:
    """The dump at `path`; with `total_only`, its label and total alone (the header's)."""
    names: dict[str, str] = {}
    objects: dict[str, str] = {}
    label, total = "", 0
    function = ""
    current_object = ""
    callee = ""
    self_cost: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    call_follows = False
    with path.open(encoding="utf-8", errors="replace") as lines:
        for raw in lines:
            line = raw.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            head = line[0]
            if total_only and total and line.startswith(("ob=", "fl=", "fn=")):
                break  # past the header, which holds the label and the summary
            if head.isdigit() or head in "+-*":
                cost = _cost(line)
                if call_follows:
                    call_follows = False
                    if callee != function.split("\t")[0]:  # a call to itself: in its own costs
                        inclusive[function] = inclusive.get(function, 0) + cost
                else:
                    self_cost[function] = self_cost.get(function, 0) + cost
                    inclusive[function] = inclusive.get(function, 0) + cost
                continue
            key, _, value = line.partition("=")
            if key == "ob":
                current_object = _name(value, objects).rsplit("/", 1)[-1]
            elif key == "cob":
                _name(value, objects)  # may define a name that a later ob= refers to
            elif key == "fn":
                function = f"{_RECURSION.sub('', _name(value, names))}\t{current_object}"
            elif key == "cfn":
                callee = _RECURSION.sub("", _name(value, names))
            elif key == "calls":
                call_follows = True
            elif line.startswith("desc: ") and TRIGGER in line:
                label = line.split(TRIGGER, 1)[1].strip()
            elif line.startswith(("summary:", "totals:")):
                total = max(total, int(line.split(":", 1)[1].split()[0]))
    return Dump(label, total, self_cost, inclusive)


def _name(value: str, names: dict[str, str]) -> str:
    """Resolve callgrind's name compression (`(id) name` defines, `(id)` refers)."""
    match = _NAMED.fullmatch(value.strip())
    if not match:
        return value.strip()
    ident, name = match.groups()
    if name:
        names[ident] = name
    return names.get(ident, f"({ident})")


def _cost(line: str) -> int:
    parts = line.split()
    return int(parts[1]) if len(parts) > 1 else 0
