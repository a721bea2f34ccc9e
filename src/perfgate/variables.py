"""`${VAR}` and `${VAR:-default}` in thresholds.yaml, filled from the environment when it is read.

Only the sections that describe requests (`endpoints` and `login`) are filled, so a password or
a token never has to be written into a committed file. Every value filled in is a secret (masked
in everything perfgate prints or writes) unless the file's top-level `public:` list names its
variable. `$${` writes a literal `${`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

VARIABLE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
SECTIONS = ("endpoints", "login")


class MissingVariable(Exception):
    def __init__(self, key: str, name: str) -> None:
        super().__init__(f"{key}: ${{{name}}} is not set in the environment")
        self.key = key
        self.name = name


@dataclass
class Filled:
    secrets: set[str] = field(default_factory=set)
    used: set[str] = field(default_factory=set)


def fill_environment(
    data: dict[str, Any], environ: Mapping[str, str], public: set[str]
) -> tuple[dict[str, Any], Filled]:
    """`data` with the variables of its request sections filled; raises MissingVariable."""
    filled = Filled()
    out = dict(data)
    for section in SECTIONS:
        if section in out:
            out[section] = _walk(out[section], section, environ, public, filled)
    return out, filled


def _walk(node: Any, key: str, environ: Mapping[str, str], public: set[str], filled: Filled) -> Any:
    if isinstance(node, str):
        return _fill(node, key, environ, public, filled)
    if isinstance(node, list):
        out = []
        for i, item in enumerate(node):
            label = item.get("name") if isinstance(item, dict) else None
            out.append(_walk(item, f"{key}[{label or i}]", environ, public, filled))
        return out
    if isinstance(node, dict):
        return {k: _walk(v, f"{key}.{k}", environ, public, filled) for k, v in node.items()}
    return node


def _fill(text: str, key: str, environ: Mapping[str, str], public: set[str], filled: Filled) -> str:
    def one(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name is None:  # `$${`: a literal `${`
            return "${"
        value = environ.get(name)
        if value is None:
            if default is None:
                raise MissingVariable(key, name)
            value = default
        filled.used.add(name)
        if name not in public:
            filled.secrets.add(value)
        return value

    return VARIABLE.sub(one, text) if "$" in text else text
