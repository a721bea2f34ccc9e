"""The pull request's own code (its setup commands, its app) must not reach the Action's token."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


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
