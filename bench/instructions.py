"""Instructions per request under callgrind: how far fresh processes of the same code agree, and
what counting costs a check.

Spread (default): starts `--instances` callgrind instances of the bundled example one after the
other, exactly as `perfgate check` does (perfgate.measure.instructions), and prints, per endpoint,
instructions per request on each instance, the largest difference between instances (the A/A
spread the check's floor stands for) and the largest spread between batches within one.

Cost (`--cost`): runs the example's default `perfgate check` twice back to back, with
`profile.instructions` off and on, and prints both durations and their difference. Run it on a
quiet machine: it is wall time.

  python bench/instructions.py                 # 3 instances
  python bench/instructions.py --instances 5
  python bench/instructions.py --cost
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from perfgate.config import load_config  # noqa: E402
from perfgate.measure.instructions import (  # noqa: E402
    callgrind_app,
    count_instructions,
    why_not_counted,  # noqa: E402
)
from perfgate.measure.login import Session  # noqa: E402
from perfgate.run.environment import shared_environment  # noqa: E402


def spread(instances: int) -> None:
    config = load_config(REPO / "thresholds.yaml")
    why_not = why_not_counted(config.app, config.profile.instructions)
    if why_not:
        sys.exit(why_not)
    figures: dict[str, list[float]] = {}
    within: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="perfgate-bench-") as scratch:
        for i in range(instances):
            began = time.monotonic()
            log_dir = Path(scratch) / f"instance-{i}"
            with callgrind_app(config, config.app, config.folder, log_dir,
                               shared_environment()) as target:  # fmt: skip
                session = Session(target.app.base_url, config.login, 1000.0, config.folder)
                counted = count_instructions(target, config, session)
            print(f"instance {i + 1}: {time.monotonic() - began:.1f} s", flush=True)
            for name, found in counted.items():
                figures.setdefault(name, []).append(found.mean)
                batches = found.per_request
                within[name] = max(
                    within.get(name, 0.0), (max(batches) - min(batches)) / found.mean
                )
    print()
    print(f"{'endpoint':22} {'per instance (M instructions per request)':44} A/A spread  batches")
    for name, means in figures.items():
        shown = " ".join(f"{m / 1e6:.4f}" for m in means)
        between = (max(means) - min(means)) / min(means)
        print(f"{name:22} {shown:44} {between:9.2%} {within[name]:8.2%}")


def cost() -> None:
    def timed(instructions: str) -> float:
        # Beside the bundled config, so its target and paths resolve the same way.
        config = REPO / ".perfgate-bench-instructions.yaml"
        text = (REPO / "thresholds.yaml").read_text()
        config.write_text(text.replace("profile:\n", f"profile:\n  instructions: {instructions}\n"))
        try:
            with tempfile.TemporaryDirectory(prefix="perfgate-bench-") as out:
                began = time.monotonic()
                subprocess.run(
                    [sys.executable, "-m", "perfgate", "check", "-c", str(config), "--out", out],
                    cwd=REPO, check=False, capture_output=True,
                )  # fmt: skip
                return time.monotonic() - began
        finally:
            config.unlink()

    off = timed("false")
    on = timed("15")
    print(f"check with instructions off: {off:.1f} s, on: {on:.1f} s, added {on - off:+.1f} s "
          f"(ratio {on / off:.2f})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=3)
    parser.add_argument("--cost", action="store_true", help="time a check with and without")
    args = parser.parse_args()
    if args.cost:
        cost()
    else:
        spread(args.instances)


if __name__ == "__main__":
    main()
