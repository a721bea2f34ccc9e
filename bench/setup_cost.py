"""What a side's setup costs: its environment made anew, and kept (dependency files unchanged).

Builds a small app tree with one local dependency (`requirements.txt: ./extra`), then prepares
one side the way `perfgate check` does (perfgate.run.environment.prepare_side: environment,
`pip install -r requirements.txt`, gunicorn), first with a fresh environment folder, then again
with the environment kept; with uv when it is on PATH and with the standard library's venv + pip.
Prints seconds per preparation and the kept/new ratio, so the figures compare within one run.

  python bench/setup_cost.py              # 3 rounds of each
  python bench/setup_cost.py --rounds 5
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from perfgate.config import AppConfig  # noqa: E402
from perfgate.run.environment import prepare_side  # noqa: E402

EXTRA = """\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "shopextra"
version = "0.1"
"""


def tree(root: Path) -> Path:
    folder = root / "tree"
    (folder / "extra" / "shopextra").mkdir(parents=True)
    (folder / "extra" / "pyproject.toml").write_text(EXTRA)
    (folder / "extra" / "shopextra" / "__init__.py").write_text("GREETING = 'hello'\n")
    (folder / "requirements.txt").write_text("./extra\n")
    (folder / "shop.py").write_text("import shopextra\n")
    return folder


def timed(app: AppConfig, folder: Path, out: Path, fresh: bool) -> float:
    if fresh:
        shutil.rmtree(out / "envs", ignore_errors=True)
    start = time.monotonic()
    prepare_side(app, "head", folder, out / "envs" / "head", out / "setup.log", out / "inapp")
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    app = AppConfig(target="shop:app", setup=["pip install -q -r requirements.txt"])
    uv_dir = str(Path(sys.executable).parent)
    kinds = {"venv + pip": os.environ["PATH"]}
    if shutil.which("uv", path=os.pathsep.join([uv_dir, os.environ["PATH"]])):
        kinds["uv"] = os.pathsep.join([uv_dir, os.environ["PATH"]])
    with tempfile.TemporaryDirectory(prefix="perfgate-setup-cost-") as scratch:
        folder = tree(Path(scratch))
        print("| environments made by | new (s, median) | kept (s, median) | kept / new |")
        print("|---|---|---|---|")
        for kind, path in kinds.items():
            os.environ["PATH"] = path
            new, kept = [], []
            for _ in range(args.rounds):  # alternate, so a slow minute hits both
                new.append(timed(app, folder, Path(scratch) / "out", fresh=True))
                kept.append(timed(app, folder, Path(scratch) / "out", fresh=False))
            n, k = statistics.median(new), statistics.median(kept)
            print(f"| {kind} | {n:.1f} | {k:.1f} | {k / n:.2f} |")


if __name__ == "__main__":
    main()
