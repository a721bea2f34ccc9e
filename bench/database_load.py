"""SQLite against PostgreSQL under load, on the example app, measured by `perfgate check` itself.

The same SoftFactory code and data (seeded identically) under gunicorn with the same workers,
once on a SQLite file and once on a throwaway PostgreSQL cluster (tests/postgres.py: Debian's
`initdb` + `pg_ctl` under a temporary folder, on 127.0.0.1). Each round runs a stored-mode check
of both (alternating which goes first), all five endpoints in turn at each concurrency level.
It prints each level's throughput as PostgreSQL / SQLite (median over rounds, all measured in
this one run), and the findings perfgate drew from each run, which name what bounds the
plateau (the workers, the CPUs, or something that serializes requests).

    python bench/database_load.py                      # 2 rounds, 2 s per level
    python bench/database_load.py --rounds 1 --seconds 0.8 --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from perfgate.judge.diagnose import explained_plateau  # noqa: E402
from perfgate.results import RunResult  # noqa: E402
from tests import postgres  # noqa: E402

ENDPOINTS = """\
endpoints:
  - {name: health, path: /health}
  - {name: chef-list, path: /api/coocook/chefs}
  - {name: chef-detail, path: /api/coocook/chefs/7}
  - {name: products, path: '/api/products?page=3&per_page=20'}
  - {name: products-by-category, path: '/api/products?category=knives&per_page=50'}
"""


def config(env: str, workers: int, levels: list[int], seconds: float) -> str:
    return (
        f"app:\n  target: examples.softfactory.app:create_app()\n  workers: {workers}\n"
        f"  env: {{{env}, PYTHONPATH: '{ROOT}'}}\n"
        + ENDPOINTS
        + "profile: {warmup: 5, samples: 60, trials: 3}\n"
        f"load: {{concurrency: {levels}, duration_s: {seconds}, warmup_s: 0.3}}\n"
        "compare: {run_instances: 1}\n"
    )


def check(folder: Path, text: str) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "thresholds.yaml").write_text(text)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-m", "perfgate", "check", "-c", "thresholds.yaml", "--out", "out"],
        cwd=folder, capture_output=True, text=True, env=env, timeout=600, check=False,
    )  # fmt: skip
    if done.returncode not in (0, 1):
        raise SystemExit(f"perfgate check failed ({done.returncode}): {done.stderr.strip()}")
    results: dict[str, Any] = json.loads((folder / "out" / "results.json").read_text())
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=2.0, help="load duration per level")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--levels", default="1,4,16", help="concurrency levels")
    args = parser.parse_args()
    missing = postgres.available()
    if missing:
        print(missing, file=sys.stderr)
        return 2
    levels = [int(c) for c in args.levels.split(",")]
    rps: dict[str, dict[int, list[float]]] = {"sqlite": {}, "postgresql": {}}
    findings: dict[str, set[str]] = {"sqlite": set(), "postgresql": set()}
    cluster = postgres.start()
    server = next(cluster)
    try:
        server.psql("CREATE DATABASE softfactory")
        with tempfile.TemporaryDirectory(prefix="perfgate-dbload-") as tmp:
            envs = {
                "sqlite": f"SOFTFACTORY_DB: '{tmp}/softfactory.db'",
                "postgresql": f"SOFTFACTORY_DATABASE_URL: '{server.url('softfactory')}'",
            }
            for n in range(args.rounds):
                order = ["sqlite", "postgresql"] if n % 2 == 0 else ["postgresql", "sqlite"]
                for kind in order:
                    text = config(envs[kind], args.workers, levels, args.seconds)
                    results = check(Path(tmp) / f"{kind}-{n}", text)
                    for level in results["run"]["load"]:
                        rps[kind].setdefault(level["concurrency"], []).append(level["rps"])
                    findings[kind] |= {
                        f"{f['severity']} {f['kind']}: {f['title']}"
                        for f in results["findings"]
                        if f["kind"] != "n_plus_one"
                    }
                    # A plateau the configuration explains is a sentence, not a finding.
                    explained = explained_plateau(RunResult.model_validate(results["run"]))
                    if explained:
                        findings[kind].add(f"(no finding) {explained}")
                shown = ", ".join(
                    f"{kind} c={c} {values[-1]:.0f}"
                    for kind, by_level in rps.items()
                    for c, values in by_level.items()
                )
                print(f"round {n + 1}: req/s {shown}", flush=True)
    finally:
        cluster.close()
    cpus = os.cpu_count()
    print(f"\nthroughput, PostgreSQL / SQLite, {args.workers} sync workers on {cpus} CPUs "
          f"(median of {args.rounds} round(s), {args.seconds:g} s per level):")  # fmt: skip
    for c in levels:
        ratio = statistics.median(rps["postgresql"][c]) / statistics.median(rps["sqlite"][c])
        print(f"  c={c:<4} {ratio:.2f}")
    for kind in ("sqlite", "postgresql"):
        print(f"\nfindings on {kind}:")
        for line in sorted(findings[kind]) or ["(none about load)"]:
            print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
