"""The pull request's own code, as the Action runs it: the setup command, and the token kept
out of its reach (the app under test inherits the same environment)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

from perfgate.errors import ExitStatus
from perfgate.github import runner


@contextmanager
def hidden_from_children(name: str) -> Iterator[None]:
    """Keep a variable out of the environment while the PR's code runs.

    The setup command and the app under test (which inherits os.environ) are the PR's code; a
    PR must not be able to read the token that may write comments.
    """
    saved = os.environ.pop(name, None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ[name] = saved


def run_setup(command: str) -> ExitStatus:
    if not command:
        return ExitStatus.OK
    with runner.group("perfgate: setup"):
        # The setup command comes from the workflow file, as trusted as a `run:` step.
        done = subprocess.run(command, shell=True, check=False)
    if done.returncode != 0:
        runner.annotation("error", f"setup command failed with exit status {done.returncode}")
        return ExitStatus.CANNOT_MEASURE
    return ExitStatus.OK
