"""The pull request's own code (its setup commands, its apps) must not reach the Action's tokens.

A container action's entrypoint is PID 1 of its container, and whatever else runs there (setup,
the apps under test: the PR's code, as root) can read `/proc/1/environ`, which keeps the
environment PID 1 was started with even after it changes os.environ. So the Action's shell
re-executes itself once with the tokens out of its environment, handing them over through a
pipe, and marks itself not dumpable so its memory cannot be read either; every child then starts
from the clean environment. Outside a container (the tests, a runner-side run) the tokens are
kept out of os.environ while the PR's code runs.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

TOKEN_INPUT = "INPUT_GITHUB-TOKEN"
# The runner passes these to every container action; none is for the PR's code.
RUNNER_TOKENS = ("ACTIONS_RUNTIME_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
                 "ACTIONS_ID_TOKEN_REQUEST_URL")  # fmt: skip
HANDOVER_ENV = "PERFGATE_SECRETS_FD"
_PR_SET_DUMPABLE = 4


def secret_names(env: Mapping[str, str]) -> list[str]:
    return [name for name in (TOKEN_INPUT, *RUNNER_TOKENS) if name in env]


def reexec_without_secrets() -> dict[str, str]:
    """In the re-executed process, the secrets handed over; as PID 1 with secrets in its
    environment, re-execute (this call does not return); otherwise nothing to do: {}."""
    if HANDOVER_ENV in os.environ:
        with os.fdopen(int(os.environ.pop(HANDOVER_ENV)), "rb") as pipe:
            secrets: dict[str, str] = json.loads(pipe.read())
        _not_dumpable()
        return secrets
    names = secret_names(os.environ)
    if os.getpid() != 1 or not names:
        return {}
    read, write = os.pipe()
    os.write(write, json.dumps({n: os.environ[n] for n in names}).encode())  # far below a pipe's
    os.close(write)
    os.set_inheritable(read, True)
    clean = {k: v for k, v in os.environ.items() if k not in names}
    clean[HANDOVER_ENV] = str(read)
    os.execve(sys.executable, [sys.executable, "-m", "perfgate", *sys.argv[1:]], clean)
    raise AssertionError("unreachable")  # pragma: no cover


@contextmanager
def hidden_from_children() -> Iterator[None]:
    """Keep the tokens out of os.environ while the PR's code runs (the app under test inherits
    os.environ), and put them back afterwards."""
    saved = {name: os.environ.pop(name) for name in secret_names(os.environ)}
    try:
        yield
    finally:
        os.environ.update(saved)


def _not_dumpable() -> None:
    """Linux's prctl(PR_SET_DUMPABLE, 0): /proc/self/mem and ptrace need CAP_SYS_PTRACE then,
    which a container's processes do not have."""
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass
