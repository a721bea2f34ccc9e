"""Where a command's words and files go, with every known secret masked on the way out.

The shells (the CLI and the Action) make one `Console` per command and pass it down; once the
config is read it masks that app's secrets too. The core says its progress through it and writes
every output file with it, so nothing perfgate prints or writes can skip the mask. Streams are
looked up when used, so a test's captured stdout works.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from perfgate.config import Config
from perfgate.errors import ResultsError
from perfgate.redact import Redactor
from perfgate.results import RunResult, write_atomic


class Console:
    def __init__(
        self,
        redact: Redactor | None = None,
        out: TextIO | None = None,
        err: TextIO | None = None,
    ) -> None:
        # Until the config is known, the secrets are those of perfgate's own environment.
        self.redact = redact or Redactor.for_app(None)
        self._out = out
        self._err = err
        self._environ: Mapping[str, str] | None = None

    def mask_environment(self, environ: Mapping[str, str]) -> None:
        """Mask the secrets of `environ` instead of os.environ's (the Action's tokens, kept out
        of os.environ so that no child inherits them)."""
        self._environ = environ
        self.redact = Redactor.for_app(None, environ)

    def mask_secrets_of(self, config: Config) -> None:
        """From now on, also mask the secrets of the configuration (app.env, app.secret_env and
        the values filled in from the environment), in this command's output and in the error
        it may end with."""
        self.redact = Redactor.for_app(config.app, self._environ, config.secrets)

    def say(self, message: str) -> None:
        """A progress or error line for the person watching (stderr)."""
        print(f"perfgate: {self.redact(message)}", file=self._err or sys.stderr, flush=True)

    def show(self, text: str, *, end: str = "\n") -> None:
        """What the command produces (stdout)."""
        print(self.redact(text), file=self._out or sys.stdout, end=end, flush=True)

    def aside(self, text: str) -> None:
        """Supporting text on stderr, such as an app log's last lines."""
        print(self.redact(text), file=self._err or sys.stderr, flush=True)

    def write_text(self, path: Path, text: str) -> None:
        """Write `path` atomically, secrets masked."""
        try:
            write_atomic(path, self.redact(text))
        except OSError as exc:
            raise ResultsError(
                f"{path}: cannot write: {exc.strerror}", "choose a writable folder with --out"
            ) from None

    def scrub_file(self, path: Path) -> None:
        """Mask the secrets in a file perfgate keeps for the reader (an app's log)."""
        try:
            text = path.read_bytes().decode("utf-8", errors="replace")
        except OSError:
            return
        if self.redact(text) != text:
            self.write_text(path, text)

    def scrub_run(self, run: RunResult) -> RunResult:
        """The run without secrets in its free-text fields (the app command, the reason)."""
        reason = run.incomplete_reason
        return run.model_copy(
            update={
                "app": self.redact(run.app),
                "incomplete_reason": reason and self.redact(reason),
            }
        )
