"""The example on a real PostgreSQL server: the same answers as on SQLite, a `perfgate check`
under gunicorn, and an A/B with a database per side made by `app.setup` (tests/postgres.py
starts the throwaway cluster; in CI a missing server is a failure)."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from perfgate.cli.main import main
from tests.faultkit import commit, processes_with
from tests.postgres import PostgresServer

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = REPO_ROOT / "examples" / "softfactory"
PATHS = {
    "health": "/health",
    "chef-list": "/api/coocook/chefs",
    "chef-detail": "/api/coocook/chefs/7",
    "products": "/api/products?page=3&per_page=20",
    "products-by-category": "/api/products?category=knives&per_page=50",
}
ENDPOINTS = "".join(f"  - {{name: {name}, path: '{path}'}}\n" for name, path in PATHS.items())
QUICK = f"""\
endpoints:
{ENDPOINTS}profile: {{warmup: 2, samples: 40, trials: 4}}
compare: {{ab_instances: 2, run_instances: 1}}
budgets:
  default: {{regression: 50%, error_rate: 1%, query_growth: 0}}
"""


@pytest.fixture
def database_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The example reads its database from the environment; leave it as it was."""
    for name in ("SOFTFACTORY_DATABASE_URL", "SOFTFACTORY_DB", "PERFGATE_SIDE"):
        monkeypatch.delenv(name, raising=False)
    yield


def test_postgresql_serves_what_sqlite_serves(
    postgres: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_env: None
) -> None:
    from examples.softfactory import seed
    from examples.softfactory.app import create_app

    monkeypatch.setenv("SOFTFACTORY_DB", str(tmp_path / "sf.db"))
    on_sqlite = create_app().test_client()
    postgres.psql("DROP DATABASE IF EXISTS sf_same")
    monkeypatch.setenv("SOFTFACTORY_DATABASE_URL", postgres.url("sf_$PERFGATE_SIDE"))
    monkeypatch.setenv("PERFGATE_SIDE", "same")
    seed.main(["--fresh"])  # creates the database the URL names, then seeds it
    on_postgres = create_app().test_client()
    for path in PATHS.values():
        sqlite_answer, postgres_answer = on_sqlite.get(path), on_postgres.get(path)
        assert postgres_answer.status_code == sqlite_answer.status_code == 200, path
        assert postgres_answer.get_json() == sqlite_answer.get_json(), path
    assert postgres.psql("SELECT count(*) FROM chefs", "sf_same") == str(seed.N_CHEFS)


def test_a_check_of_the_example_on_postgresql(
    postgres: PostgresServer, tmp_path: Path, database_env: None
) -> None:
    postgres.psql("DROP DATABASE IF EXISTS sf_check")
    postgres.psql("CREATE DATABASE sf_check")  # the app seeds an empty database itself
    config = tmp_path / "thresholds.yaml"
    app = (
        "app:\n  target: examples.softfactory.app:create_app()\n  workers: 2\n"
        f"  env: {{SOFTFACTORY_DATABASE_URL: '{postgres.url('sf_check')}', "
        f"PYTHONPATH: '{REPO_ROOT}'}}\n"
        "load: {concurrency: [2, 8], duration_s: 0.6, warmup_s: 0.1}\n"
    )
    config.write_text(app + QUICK)
    status = main(["check", "-c", str(config), "--out", str(tmp_path / "out")])
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert status == 0, results["notes"]
    profile = {p["name"]: p for p in results["run"]["endpoints"]}
    for name in PATHS:
        assert profile[name]["status_codes"] == {"200": 40}, name
    # The statements were counted on PostgreSQL: the N+1 list runs one per chef, plus one.
    assert profile["chef-list"]["queries_per_request"] == 41
    assert profile["chef-detail"]["queries_per_request"] == 3
    assert all(level["success_rate"] == 1.0 for level in results["run"]["load"])
    assert int(postgres.psql("SELECT count(*) FROM products", "sf_check")) == 500
    assert processes_with(str(tmp_path)) == []


def test_an_ab_check_with_a_database_per_side(
    postgres: PostgresServer, tmp_path: Path, database_env: None
) -> None:
    repo = tmp_path / "shop"
    files = {f"examples/softfactory/{p.name}": p.read_text() for p in sorted(EXAMPLE.glob("*.py"))}
    files["examples/__init__.py"] = ""
    files[".gitignore"] = ".perfgate/\n"
    # setup makes each side's own database (the URL names it after PERFGATE_SIDE) and seeds it.
    files["thresholds.yaml"] = (
        "app:\n  target: examples.softfactory.app:create_app()\n  workers: 1\n  isolate: false\n"
        f"  env: {{SOFTFACTORY_DATABASE_URL: '{postgres.url('shop_$PERFGATE_SIDE')}'}}\n"
        f"  setup: {sys.executable} -m examples.softfactory.seed --fresh\n"
        "load: {enabled: false}\n" + QUICK
    )
    commit(repo, files, "base")
    # The pull request loads each dish's reviews one dish at a time: an N+1 on chef-detail.
    app = (EXAMPLE / "app.py").read_text()
    slower = app.replace(
        ".options(selectinload(Chef.dishes).selectinload(Dish.reviews))",
        ".options(selectinload(Chef.dishes))",
    )
    assert slower != app
    commit(repo, {"examples/softfactory/app.py": slower}, "chef detail: lazy reviews")

    here = Path.cwd()
    os.chdir(repo)
    try:
        status = main(["check", "-c", "thresholds.yaml", "--out", ".perfgate", "--against=HEAD~1"])
    finally:
        os.chdir(here)
    out = repo / ".perfgate"
    results = json.loads((out / "results.json").read_text())
    assert status == 1, results["notes"]
    failed = {(c["endpoint"], c["metric"]) for c in results["checks"] if c["status"] == "fail"}
    assert ("chef-detail", "queries_per_request") in failed
    counts = {
        side: {p["name"]: p["queries_per_request"] for p in results[key]["endpoints"]}
        for side, key in (("base", "base_run"), ("head", "run"))
    }
    assert counts["base"]["chef-detail"] == 3 and counts["head"]["chef-detail"] > 3
    assert counts["base"]["chef-list"] == counts["head"]["chef-list"] == 41
    for side in ("base", "head"):
        assert f"/shop_{side}" in (out / side / "setup.log").read_text()
        assert postgres.psql("SELECT count(*) FROM chefs", f"shop_{side}") == "40"
    assert processes_with(str(tmp_path)) == []
    shutil.rmtree(out, ignore_errors=True)
