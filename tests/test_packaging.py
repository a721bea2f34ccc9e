"""The package metadata, and the command line's behaviour as one link of a shell pipeline."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.conftest import REPO_ROOT
from tests.faultkit import perfgate_env


def test_the_license_is_an_spdx_string_that_setuptools_reads_without_a_warning() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    # A table (`{text = "MIT"}`) makes setuptools print a deprecation warning on every install.
    assert project["project"]["license"] == "MIT"
    assert not [c for c in project["project"].get("classifiers", []) if c.startswith("License")]
    (setuptools,) = [r for r in project["build-system"]["requires"] if "setuptools" in r]
    assert setuptools.replace(" ", "") == "setuptools>=77"  # the first to read the SPDX form


def test_report_piped_into_head_ends_without_a_traceback(tmp_path: Path) -> None:
    # Far more than a pipe holds (64 KiB), so perfgate is still writing when head leaves.
    data = json.loads((REPO_ROOT / "tests" / "golden" / "full.results.json").read_text())
    for endpoint in data["run"]["endpoints"]:
        endpoint["samples_ms"] = [1.25] * 50_000
    results = tmp_path / "results.json"
    results.write_text(json.dumps(data))
    done = subprocess.run(
        f"{sys.executable} -m perfgate report --format json {results} | head -n 2",
        shell=True, capture_output=True, text=True, env=perfgate_env(), timeout=60,
    )  # fmt: skip
    assert done.stdout.count("\n") == 2
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
