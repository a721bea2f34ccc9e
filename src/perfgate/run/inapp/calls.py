"""Count the Python function calls of one request, in the thread that serves it.

`sys.setprofile` sees every Python-level call of the thread it is set in; counting them is exact
and deterministic (the same request of the same code makes the same calls), unlike their timing.
The app's own functions (defined outside the interpreter's and the environment's library folders)
are kept one by one, as `module.Qualified.name`; library calls are summed per top-level package,
so a record stays small and the report can say "`Post.to_dict` 16 -> 25 calls, sqlalchemy
+40%" from two records.

Standard library only: it runs inside the app's workers (perfgate.run.inapp).
"""

from __future__ import annotations

import sys
import sysconfig
from types import FrameType
from typing import Any

# Folders whose code is a library, not the app (the venv's site-packages, the stdlib).
_LIBRARY_ROOTS = tuple(
    sorted(
        {
            path
            for key in ("stdlib", "platstdlib", "purelib", "platlib")
            for path in (sysconfig.get_paths().get(key),)
            if path
        }
        | {p for p in sys.path if p.endswith(("site-packages", "dist-packages"))}
    )
)
KEPT_APP_FUNCTIONS = 200


class CallCounter:
    """Counts calls while installed in one thread: `start()`, serve the request, `stop()`."""

    def __init__(self) -> None:
        self.counts: dict[Any, int] = {}

    def _profile(self, frame: FrameType, event: str, _arg: object) -> None:
        if event == "call":
            code = frame.f_code
            self.counts[code] = self.counts.get(code, 0) + 1

    def start(self) -> None:
        sys.setprofile(self._profile)

    def stop(self) -> None:
        sys.setprofile(None)

    def as_records(self) -> list[dict[str, object]]:
        """[{name, calls, app}], the app's functions one by one, libraries per package."""
        app: dict[str, int] = {}
        packages: dict[str, int] = {}
        for code, count in self.counts.items():
            module = _module_of(code.co_filename)
            if module.startswith("perfgate"):
                continue  # perfgate's own wrapper is not the app's work
            if _is_library(code.co_filename):
                package = module.split(".")[0] or "(built-in)"
                packages[package] = packages.get(package, 0) + count
            else:
                name = f"{module}.{code.co_qualname}" if module else code.co_qualname
                app[name] = app.get(name, 0) + count
        top = sorted(app.items(), key=lambda item: (-item[1], item[0]))[:KEPT_APP_FUNCTIONS]
        records: list[dict[str, object]] = [{"name": n, "calls": c, "app": True} for n, c in top]
        records += [
            {"name": n, "calls": c, "app": False}
            for n, c in sorted(packages.items(), key=lambda item: (-item[1], item[0]))
        ]
        return records


def _is_library(filename: str) -> bool:
    return filename.startswith("<") or filename.startswith(_LIBRARY_ROOTS)


def _module_of(filename: str) -> str:
    """The dotted module name of a source file, from the longest sys.path entry holding it."""
    if filename.startswith("<"):
        return ""
    best = ""
    for root in sys.path:
        if root and filename.startswith(root.rstrip("/") + "/") and len(root) > len(best):
            best = root
    relative = filename[len(best) :].lstrip("/") if best else filename.rsplit("/", 1)[-1]
    module = relative.removesuffix(".py").replace("/", ".")
    return module.removesuffix(".__init__")
