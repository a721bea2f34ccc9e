"""The base revision for same-run A/B checks: a temporary, detached git worktree.

`with base_tree(ref, folder) as tree:` yields the folder in the base checkout that corresponds to
`folder` (the config's folder) in the current one. The worktree lives in a fresh temp directory
and is removed, and git's record of it pruned, however the block is left.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from perfgate.errors import ConfigError, MeasurementError

GIT_TIMEOUT_S = 120


@dataclass(frozen=True)
class BaseTree:
    ref: str
    commit: str
    root: Path
    folder: Path


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=GIT_TIMEOUT_S
        )
    except FileNotFoundError:
        raise MeasurementError("git is not installed", "install git to use --against") from None
    except subprocess.TimeoutExpired:
        raise MeasurementError(f"git {args[0]} took over {GIT_TIMEOUT_S} s in {cwd}") from None


@contextmanager
def base_tree(ref: str, folder: Path) -> Iterator[BaseTree]:
    """Check out `ref` of the repository holding `folder` into a temporary worktree."""
    folder = folder.resolve()
    top = _git(["rev-parse", "--show-toplevel"], folder)
    if top.returncode != 0:
        raise ConfigError(
            f"--against {ref}: {folder} is not inside a git repository",
            "run from a git checkout, or record a baseline with `perfgate baseline` instead",
        )
    root = Path(top.stdout.strip()).resolve()
    found = _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], root)
    if found.returncode != 0:
        raise ConfigError(
            f"--against {ref}: no such commit in {root}",
            "give a branch, tag or commit that exists (in CI, fetch it first)",
        )
    commit = found.stdout.strip()
    scratch = Path(tempfile.mkdtemp(prefix="perfgate-base-"))
    tree = scratch / "tree"
    try:
        added = _git(["worktree", "add", "--detach", str(tree), commit], root)
        if added.returncode != 0:
            raise MeasurementError(
                f"--against {ref}: git worktree add failed: {added.stderr.strip()[:300]}"
            )
        yield BaseTree(ref, commit, tree, tree / folder.relative_to(root))
    finally:
        if tree.exists():
            _git(["worktree", "remove", "--force", str(tree)], root)
        shutil.rmtree(scratch, ignore_errors=True)
        _git(["worktree", "prune"], root)


def is_ancestor(folder: Path, commit: str, head: str = "HEAD") -> bool:
    """Whether `commit` is `head` or one of its ancestors in the repository holding `folder`;
    False too when git, the repository or either commit is missing (a shallow clone)."""
    try:
        done = subprocess.run(
            ["git", "merge-base", "--is-ancestor", commit, head],
            cwd=folder, capture_output=True, text=True, timeout=10,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0
