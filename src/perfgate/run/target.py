"""Before an app starts: can its module be found, and from where would it be imported?

The second question is the import guard of A/B runs and isolated environments: a side must run
its own code. An app installed as a package (src layout, `pip install -e .`) is imported from
wherever it was installed, so without a setup per side the base would import the head's code
and A/B would compare the pull request with itself.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from perfgate.config import AppConfig
from perfgate.errors import ConfigError

_MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
# Run in a child, on the side's interpreter, so the user's package __init__ never runs inside
# perfgate itself; sys.path as gunicorn's --pythonpath makes it. Prints where the module is.
_FIND_MODULE = """
import importlib.util, sys
sys.path.insert(0, sys.argv[1])
try:
    spec = importlib.util.find_spec(sys.argv[2])
except Exception as exc:
    print(f"{type(exc).__name__}: {exc}")
    sys.exit(1)
if spec is None:
    print("no such module")
    sys.exit(1)
print(spec.origin or next(iter(spec.submodule_search_locations or []), ""))
"""


def check_target(
    app: AppConfig,
    folder: Path,
    source: Path,
    *,
    python: str,
    variables: Mapping[str, str] | None = None,
    own: Sequence[Path] | None = None,
) -> None:
    """Fail fast (exit 2) when app.target's module cannot be found from `folder` by `python`,
    or, given `own` (the side's tree and environment), when it would be imported from
    anywhere else.

    Only finds the module (its parent packages do run); importing it is gunicorn's job, whose
    errors come back with the app log.
    """
    assert app.target is not None
    module = app.target.split(":", 1)[0].strip()
    if not _MODULE_NAME.fullmatch(module):
        raise ConfigError(
            f"{source}: app.target = {app.target!r}: not a module path",
            "write it as package.module:app or package.module:create_app()",
        )
    relative = Path(*module.split("."))
    if (folder / relative).with_suffix(".py").is_file() or (folder / relative).is_dir():
        return  # plainly there beside the config, first on the path: no Python needed to look
    try:
        found = subprocess.run(
            [python, "-c", _FIND_MODULE, str(folder), module],
            cwd=folder,
            env={**os.environ, **app.env, **(variables or {})},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return  # a slow package __init__ is gunicorn's to report, with the log tail
    lines = found.stdout.strip().splitlines()
    if found.returncode != 0:
        raise ConfigError(
            f"{source}: app.target = {app.target!r}: cannot find module {module!r} "
            f"({(lines or ['no such module'])[-1]})",
            f"the module path is relative to the config's folder {folder}",
        )
    origin = Path(lines[-1]).resolve() if lines and lines[-1] else None
    if own is None or origin is None:
        return
    if not any(origin.is_relative_to(root.resolve()) for root in own):
        raise ConfigError(
            f"{source}: app.target = {app.target!r}: {module!r} would be imported from {origin}, "
            f"not from this side's tree {folder}",
            "install the app in app.setup (for example `pip install -e .`), so that each side "
            "runs its own code from its own environment",
        )
