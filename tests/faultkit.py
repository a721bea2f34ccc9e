"""Shared helpers for the bad-input, fault and signal tests: configs, subprocesses, /proc scans."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"


def write_config(folder: Path, body: str, name: str = "thresholds.yaml") -> Path:
    """A thresholds file in `folder` (whose unique path marks every process of the run)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(body)
    return path


def faulty_app(env: dict[str, str] | None = None, workers: int = 1, extra: str = "") -> str:
    """The app section for tests/apps/faulty.py, importable through PYTHONPATH=<repo>."""
    values = {"PYTHONPATH": str(REPO), **(env or {})}
    env_yaml = ", ".join(f'{k}: "{v}"' for k, v in values.items())
    return (
        "app:\n"
        "  target: tests.apps.faulty:create_app()\n"
        f"  workers: {workers}\n"
        f"  env: {{{env_yaml}}}\n"
        f"{extra}"
    )


def perfgate_env() -> dict[str, str]:
    """Environment for `python -m perfgate` subprocesses: this worktree's code first."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH", "")]))
    return env


def start_perfgate(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "perfgate", *args],
        cwd=cwd,
        env=perfgate_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def processes_with(marker: str) -> list[int]:
    """Live processes whose command line contains `marker` (zombies are dead: not counted)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def wait_for(predicate: object, timeout: float = 30.0, step: float = 0.05) -> bool:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


def git(repo: Path, *args: str) -> str:
    """Run git in `repo` with a throwaway identity; its output."""
    done = subprocess.run(
        ["git", "-c", "user.email=t@example.invalid", "-c", "user.name=t", *args],
        cwd=repo, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout


def commit(repo: Path, files: dict[str, str], message: str) -> None:
    """Write `files` (relative path: text) into `repo`, a git repository made on first use, and
    commit everything as `message`."""
    repo.mkdir(exist_ok=True)
    if not (repo / ".git").exists():
        git(repo, "init", "-q")
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)


def slowed_items_repo(repo: Path, config: str) -> Path:
    """A git repository of the tiny test app (tests/apps/tiny.py) and `config`: commit 1 as
    is, commit 2 makes /items busy-wait 4 ms (a regression of one endpoint, as a PR makes)."""
    fast = (REPO / "tests" / "apps" / "tiny.py").read_text()
    commit(repo, {"tiny.py": fast, "thresholds.yaml": config}, "base")
    slowed = fast.replace(
        'os.environ.get("TINY_SLOW_PATH", "")', 'os.environ.get("TINY_SLOW_PATH", "/items")'
    ).replace('os.environ.get("TINY_SLOW_MS", "0")', 'os.environ.get("TINY_SLOW_MS", "4")')
    assert slowed != fast
    commit(repo, {"tiny.py": slowed}, "slow down /items")
    return repo
