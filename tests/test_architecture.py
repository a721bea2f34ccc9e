"""The shape of the package, checked: stages import only what they may, nothing imports in a
cycle, modules stay small, the shells stay thin, and the code that runs inside the measured app
needs nothing but the standard library."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "perfgate"
IN_APP = ["perfgate.run.inapp.instrument", "perfgate.run.inapp.reference"]
KERNEL = {
    "errors",
    "config",
    "budget_config",
    "endpoints",
    "variables",
    "results",
    "database",
    "evidence",
    "hostload",
    "redact",
    "console",
    "layout",
}
# What each stage may import from perfgate besides itself and the kernel.
ALLOWED = {
    "kernel": set(),
    "run.inapp": set(),
    "loadgen": set(),
    "run": {"run.inapp"},
    "judge": set(),
    "measure": {"run", "run.inapp", "loadgen", "judge"},
    "report": {"judge"},
    "core": {"run", "measure", "judge", "report"},
    "github": {"core", "report"},
    "cli": {"core", "report", "github", "loadgen"},
    "top": {"cli"},  # perfgate/__main__.py
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _stage(module: str) -> str:
    parts = module.split(".")[1:]
    if parts == ["__main__"]:
        return "top"
    if not parts or parts[0] in KERNEL:  # the package itself holds only __version__
        return "kernel"
    if parts[:2] == ["run", "inapp"]:
        return "run.inapp"
    return parts[0]


def _imports() -> dict[str, set[str]]:
    """Every perfgate module and the perfgate modules it imports anywhere in its body (inside
    functions and TYPE_CHECKING blocks too: a late import is still a dependency)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("perfgate")}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                    base = f"{base}.{node.module}" if node.module else base
                if not base.startswith("perfgate"):
                    continue
                for alias in node.names:
                    candidate = f"{base}.{alias.name}"
                    found.add(candidate if candidate in modules else base)
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def test_each_stage_imports_only_the_kernel_and_the_stages_it_builds_on() -> None:
    wrong = []
    for module, imported in _imports().items():
        stage = _stage(module)
        allowed = {stage, "kernel", *ALLOWED[stage]}
        if stage == "kernel":
            allowed = {"kernel"}
        wrong += [f"{module} -> {m}" for m in sorted(imported) if _stage(m) not in allowed]
    assert wrong == []


def test_no_import_cycles() -> None:
    graph = _imports()
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return None
        for imported in sorted(graph[module]):
            cycle = visit(imported, [*path, module])
            if cycle:
                return cycle
        done.add(module)
        return None

    cycles = [c for m in sorted(graph) if (c := visit(m, []))]
    assert cycles == []


def test_the_checker_sees_a_cycle_and_a_wrong_layer() -> None:
    # The two tests above would pass on an empty graph: make sure the scan finds real edges.
    graph = _imports()
    assert "perfgate.core.check" in graph["perfgate.cli.commands"]
    assert "perfgate.results" in graph["perfgate.judge.gate"]
    assert "perfgate.run.inapp.reference" in graph["perfgate.run.inapp.instrument"]


def test_modules_stay_small_and_the_shells_thin() -> None:
    sizes = {p: len(p.read_text(encoding="utf-8").splitlines()) for p in PACKAGE.rglob("*.py")}
    assert {str(p): n for p, n in sizes.items() if n > 400} == {}
    shells = [*PACKAGE.joinpath("cli").glob("*.py"), PACKAGE / "github" / "action.py"]
    assert {str(p): sizes[p] for p in shells if sizes[p] > 150} == {}


@pytest.mark.parametrize(
    "module", ["perfgate.run.inapp.instrument", "perfgate.run.inapp.reference"]
)
def test_the_in_app_code_imports_with_the_standard_library_alone(module: str) -> None:
    # -I -S: no site-packages at all, so any third-party import would fail here.
    probe = f"""
import sys
sys.path.insert(0, {str(SRC)!r})
import {module}
from perfgate.run.inapp import instrument, reference
answered = []
wrapper = instrument.Counting(lambda environ, start: [b"app"], None)
body = b"".join(wrapper({{"PATH_INFO": reference.IN_APP_PATH}}, lambda *a: answered.append(a)))
assert answered[0][0] == "200 OK" and b'"rows"' in body
loaded = sorted(m.split(".")[0] for m in sys.modules)
print(" ".join(m for m in loaded if m in ("pydantic", "yaml", "requests", "scipy", "numpy")))
"""
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
