"""The action's metadata, workflows and Dockerfile pass the linters CI runs.

Each linter is a PyPI package in the `test` extra; a test skips, saying which, when one is not
installed. The last test checks that action.yml and action.py agree on the inputs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from perfgate.github.inputs import INPUT_DEFAULTS, ActionInputs, read_inputs

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def tool(name: str) -> str:
    """The linter next to this Python (the venv), else on PATH, else skip."""
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        pytest.skip(f"{name} is not installed (pip install '.[test]')")
    return found


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_workflows_match_githubs_schema() -> None:
    assert WORKFLOWS, "no workflows found"
    done = run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
               *map(str, WORKFLOWS))  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_action_yml_matches_githubs_schema() -> None:
    done = run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-actions", "action.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_zizmor_finds_nothing_high() -> None:
    done = run(tool("zizmor"), "--offline", "--format", "plain", ".github/workflows")
    output = done.stdout + done.stderr
    assert not re.search(r"^error\[", output, re.M), output
    assert re.search(r"\b0 high\b|No findings", output), output


def test_hadolint_passes_the_dockerfile() -> None:
    done = run(tool("hadolint"), "Dockerfile")
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_action_input_reaches_action_py() -> None:
    """Each input in action.yml has a default in action.py and lands in ActionInputs."""
    metadata = yaml.safe_load((ROOT / "action.yml").read_text())
    declared = set(metadata["inputs"])
    assert declared == set(INPUT_DEFAULTS)

    # Docker actions get INPUT_<NAME>, upper-cased with hyphens kept.
    env = {f"INPUT_{name.upper()}": f"value-of-{name}" for name in declared}
    # Inputs with a fixed set of values (or a number) get a valid one.
    env |= {"INPUT_COMMENT": "never", "INPUT_FAIL-ON": "never", "INPUT_COMMAND": "baseline",
            "INPUT_PR": "42"}  # fmt: skip
    inputs = read_inputs(env)
    seen = {getattr(inputs, field) for field in ActionInputs.__dataclass_fields__}
    assert {v for k, v in env.items() if k.startswith("INPUT_")} <= seen

    for name, spec in metadata["inputs"].items():
        default = str(spec.get("default", ""))
        if not default.startswith("${{"):
            assert default == INPUT_DEFAULTS[name], name


def test_action_outputs_are_the_ones_action_py_writes() -> None:
    metadata = yaml.safe_load((ROOT / "action.yml").read_text())
    assert set(metadata["outputs"]) == {"verdict", "report", "results", "failures"}
    assert metadata["runs"] == {"using": "docker", "image": "Dockerfile", "args": ["action"]}
