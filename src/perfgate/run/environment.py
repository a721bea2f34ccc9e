"""Each side's own environment: its setup commands, its virtual environment, its interpreter.

A side is one tree to measure: the base worktree or the head in A/B, the tree in stored mode.
`prepare_side` runs `app.setup` in that tree, one command at a time under `bash -e -o pipefail`,
with PERFGATE_SIDE set and the side's environment active, writing the output to the side's
setup.log. With isolation (the default once app.setup is given) that environment is a virtual
environment of the side's own under the output folder, kept between runs while the side's
dependency files stay the same; the side's gunicorn runs from it. perfgate's own dependencies
never enter it: the code perfgate runs inside the app (perfgate.run.inapp, standard library only)
is copied onto the app's path by itself.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import BinaryIO

from perfgate.config import AppConfig
from perfgate.errors import MeasurementError
from perfgate.run import inapp

# What decides a side's installed packages: when none of these changed, its environment is kept.
DEPENDENCY_FILES = (
    "requirements*.txt", "requirements/*.txt", "constraints*.txt", "pyproject.toml", "setup.py",
    "setup.cfg", "Pipfile", "Pipfile.lock", "poetry.lock", "uv.lock", "pdm.lock",
)  # fmt: skip
DIGEST_FILE = ".perfgate-dependencies"
SIDE_ENV = "PERFGATE_SIDE"
LOG_TAIL_LINES = 20


@dataclass(frozen=True)
class SideEnvironment:
    """Where a side's app runs from: its interpreter, its virtual environment (None: perfgate's
    own), the folder perfgate's in-app code is imported from, and gunicorn's version there."""

    python: str
    venv: Path | None
    inapp_path: Path
    gunicorn: str | None
    side: str | None = None  # PERFGATE_SIDE for setup and the app: "base" or "head"

    def variables(self) -> dict[str, str]:
        """What the side's setup and app get: PERFGATE_SIDE, and the environment activated."""
        side = {SIDE_ENV: self.side} if self.side else {}
        if self.venv is None:
            return side
        path = os.pathsep.join([str(self.venv / "bin"), os.environ.get("PATH", "")])
        return {**side, "VIRTUAL_ENV": str(self.venv), "PATH": path}


def shared_environment(side: str | None = None) -> SideEnvironment:
    """perfgate's own interpreter and packages (no isolation)."""
    return SideEnvironment(sys.executable, None, _package_root(), gunicorn_version(), side)


def gunicorn_version() -> str | None:
    try:
        return metadata.version("gunicorn")
    except metadata.PackageNotFoundError:
        return None


def prepare_side(
    app: AppConfig, side: str, folder: Path, env_dir: Path, log_path: Path, inapp_dir: Path
) -> SideEnvironment:
    """Make the side's environment and run its setup commands in `folder`. Raises
    MeasurementError naming the command that failed, with the log's last lines."""
    if not (app.setup or app.isolated):
        return shared_environment(side)
    # Commands run in the side's tree: every path handed to them must not depend on the cwd.
    env_dir, log_path, inapp_dir = env_dir.resolve(), log_path.resolve(), inapp_dir.resolve()
    try:
        return _prepare(app, side, folder, env_dir, log_path, inapp_dir)
    except OSError as exc:
        raise MeasurementError(
            f"cannot prepare the {side} side's environment: {exc}",
            f"check that {env_dir.parent} can be written to",
        ) from None


def _prepare(
    app: AppConfig, side: str, folder: Path, env_dir: Path, log_path: Path, inapp_dir: Path
) -> SideEnvironment:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        environment = shared_environment(side)
        if app.isolated:
            venv = _virtualenv(app.python, folder, env_dir, log, log_path)
            environment = SideEnvironment(str(venv / "bin" / "python"), venv,
                                          _copy_inapp(inapp_dir), None, side)  # fmt: skip
        variables = {**os.environ, **app.env, **environment.variables()}
        for command in app.setup:
            _run(["bash", "-e", "-o", "pipefail", "-c", command], folder, variables, log, log_path,
                 f"setup command failed: {command!r}")  # fmt: skip
        if environment.venv is None:
            return environment
        version = _version_of_gunicorn(environment.python)
        if version is None and app.target:
            wanted = f"gunicorn=={gunicorn_version()}" if gunicorn_version() else "gunicorn"
            _run(_installer(environment.python, wanted), folder, variables, log, log_path,
                 f"cannot install {wanted} into {environment.venv}")  # fmt: skip
            version = _version_of_gunicorn(environment.python)
    return SideEnvironment(
        environment.python, environment.venv, environment.inapp_path, version, side
    )


def dependency_digest(folder: Path, python: str | None = None) -> str:
    """A digest of the side's dependency files and the interpreter that builds its environment."""
    digest = hashlib.sha256(f"{python} {sys.executable} {platform.python_version()}".encode())
    for pattern in DEPENDENCY_FILES:
        for path in sorted(folder.glob(pattern)):
            if path.is_file():
                digest.update(f"\0{path.relative_to(folder)}\0".encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def _virtualenv(
    python: str | None, folder: Path, env_dir: Path, log: BinaryIO, log_path: Path
) -> Path:
    """The side's virtual environment (on `python`, a version or a path; default perfgate's
    own), made anew only when its dependency files changed."""
    digest = dependency_digest(folder, python)
    stamp = env_dir / DIGEST_FILE
    if stamp.is_file() and stamp.read_text().strip() == digest:
        _note(log, f"# keeping the environment {env_dir} (dependency files unchanged)")
        return env_dir
    shutil.rmtree(env_dir, ignore_errors=True)
    uv = _uv()
    if uv:
        argv = [uv, "venv", "--seed", "--quiet", "--python", python or sys.executable, str(env_dir)]
    else:
        argv = [_interpreter(python), "-m", "venv", str(env_dir)]
    _run(argv, folder, dict(os.environ), log, log_path, f"cannot create {env_dir}")
    stamp.write_text(digest + "\n")
    return env_dir


def _interpreter(python: str | None) -> str:
    """The interpreter for `python` without uv: a path as given, a version from PATH."""
    if python is None:
        return sys.executable
    found = python if "/" in python else shutil.which(f"python{python}")
    if not found:
        raise MeasurementError(
            f"app.python = {python!r}: no python{python} on PATH",
            "install that Python, give its path, or put uv on PATH (it installs Python versions)",
        )
    return found


def _uv() -> str | None:
    """uv, where it is on PATH: it creates environments and installs in seconds, with a shared
    cache; without it, the standard library's venv and pip do the same, slower."""
    return shutil.which("uv")


def _installer(python: str, requirement: str) -> list[str]:
    uv = _uv()
    if uv:
        return [uv, "pip", "install", "--quiet", "--python", python, requirement]
    return [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", requirement]


def _version_of_gunicorn(python: str) -> str | None:
    done = subprocess.run(
        [python, "-c", "import gunicorn; print(gunicorn.__version__)"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return done.stdout.strip() or None if done.returncode == 0 else None


def _copy_inapp(inapp_dir: Path) -> Path:
    """perfgate's in-app package alone (and the two package files above it), importable from
    `inapp_dir` by the app's own interpreter."""
    source = Path(inapp.__file__).parent
    target = inapp_dir / "perfgate" / "run" / "inapp"
    shutil.rmtree(inapp_dir / "perfgate", ignore_errors=True)
    target.mkdir(parents=True)
    for module in source.glob("*.py"):
        shutil.copy2(module, target / module.name)
    for package in (source.parent, source.parent.parent):
        shutil.copy2(package / "__init__.py", inapp_dir / package.relative_to(source.parents[2]))
    return inapp_dir


def _package_root() -> Path:
    """The folder perfgate itself is imported from (the parent of the `perfgate` package)."""
    return Path(inapp.__file__).resolve().parents[3]


def _note(log: BinaryIO, line: str) -> None:
    log.write((line + "\n").encode())
    log.flush()


def _run(
    argv: list[str], cwd: Path, env: dict[str, str], log: BinaryIO, log_path: Path, failure: str
) -> None:
    _note(log, "$ " + (argv[-1] if argv[0] == "bash" else " ".join(argv)))
    try:
        done = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log,
                              stderr=subprocess.STDOUT, check=False)  # fmt: skip
    except OSError as exc:
        raise MeasurementError(f"{failure}: {argv[0]}: {exc.strerror}") from None
    if done.returncode != 0:
        tail = log_path.read_bytes()[-8000:].decode("utf-8", errors="replace").splitlines()
        raise MeasurementError(
            f"{failure} (exit status {done.returncode})",
            f"its output is in {log_path}",
            log_tail="\n".join(tail[-LOG_TAIL_LINES:]),
            log_name="setup log",
        )
