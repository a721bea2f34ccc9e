"""Every path a run writes under its output folder, named in one place.

The measuring code asks the layout where each app instance logs; the core asks it where the
results and reports go and which app logs to scrub. So the list of logs that must be free of
secrets cannot drift from the folders the apps really wrote to.

A `.perfgate/` folder perfgate creates gets a `.gitignore` of `*`: what it holds is made again by
every run (the baseline lives in the CI cache). Each run removes the log folders an earlier run
left (`instance-3/` of a run with more instances, `base-2/`, `confirm/`, ...), so the folder only
holds this run's logs; the side environments (`envs/`) are kept, they are reused.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from perfgate.errors import PerfgateError

APP_LOG = "app.log"
LOGS = (APP_LOG, "setup.log")
OUT_FOLDER = ".perfgate"  # the default output folder, beside the config
# The folders a run's apps log to (see Layout below); only these are removed between runs, and
# only when they hold nothing but logs, so an --out given to a folder of the user's is safe.
RUN_FOLDER = re.compile(r"(instance|reference|base|head)(-\d+)?|confirm")
RUN_FILES = {*LOGS, "queries"}


@dataclass(frozen=True)
class Layout:
    out: Path

    @property
    def results(self) -> Path:
        return self.out / "results.json"

    @property
    def report(self) -> Path:
        return self.out / "report.md"

    @property
    def html(self) -> Path:
        return self.out / "report.html"

    def instance(self, index: int) -> Path:
        """Log folder of stored-mode app instance `index` (0-based): the first logs to `out`."""
        return self.out if index == 0 else self.out / f"instance-{index + 1}"

    def reference(self, index: int) -> Path:
        """Log folder of the reference app beside instance `index`, where it runs apart."""
        return self.out / ("reference" if index == 0 else f"reference-{index + 1}")

    def side(self, side: str, index: int) -> Path:
        """Log folder of A/B side `side` ("base" or "head"), instance `index`."""
        return self.out / (side if index == 0 else f"{side}-{index + 1}")

    def callgrind(self, side: str | None) -> Path:
        """Log folder of the side's instance under callgrind (perfgate.measure.instructions)."""
        return self.out / "callgrind" / (side or "app")

    def setup_log(self, side: str | None) -> Path:
        """Where a side's setup commands write (stored mode: `out/setup.log`)."""
        return (self.side(side, 0) if side else self.out) / "setup.log"

    def environment(self, side: str) -> Path:
        """The side's own virtual environment, kept between runs (perfgate.run.environment)."""
        return self.out / "envs" / side

    @property
    def inapp(self) -> Path:
        """Where perfgate's in-app code is copied for apps with an environment of their own."""
        return self.out / "inapp"

    def confirmation(self) -> Layout:
        """Where the stored mode's second measurement writes (perfgate.core.confirm)."""
        return Layout(self.out / "confirm")

    def app_logs(self) -> list[Path]:
        """Every app log under this layout: `out`, its instance and side folders, and the
        confirmation's (two levels at most, so an --out of a big tree is not walked)."""
        found = [
            self.out / APP_LOG,
            *self.out.glob(f"*/{APP_LOG}"),
            *self.out.glob(f"*/*/{APP_LOG}"),
        ]
        return sorted(p for p in found if p.is_file())

    def prepare(self, *, measuring: bool = True) -> None:
        """Make sure the folder can be written to, and remove an earlier run's results and
        reports (and, before `measuring`, its app logs), so a run that breaks never leaves them
        looking like its own."""
        ensure_writable(self.out)
        for path in (self.results, self.report, self.html):
            path.unlink(missing_ok=True)
        if measuring:
            self._remove_earlier_logs()

    def _remove_earlier_logs(self) -> None:
        for folder in self.out.iterdir():
            if not (folder.is_dir() and RUN_FOLDER.fullmatch(folder.name)):
                continue
            if folder.name == "confirm":
                Layout(folder)._remove_earlier_logs()
            if all(p.name in RUN_FILES or RUN_FOLDER.fullmatch(p.name) for p in folder.iterdir()):
                shutil.rmtree(folder, ignore_errors=True)


def ensure_writable(folder: Path) -> None:
    """Fail before measuring, not after, when results could not be written to `folder`."""
    try:
        created = [p for p in (folder, *folder.parents) if p.name == OUT_FOLDER and not p.exists()]
        folder.mkdir(parents=True, exist_ok=True)
        for own in created:  # ours alone: git should never see it
            (own / ".gitignore").write_text("*\n", encoding="utf-8")
        probe = folder / ".perfgate-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise PerfgateError(
            f"{folder}: output folder is not writable ({exc.strerror})",
            "choose another folder with --out",
        ) from None
