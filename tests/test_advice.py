"""Findings that name the fix, on real apps: query plans and indexes, caching, pooling."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml

from perfgate.config import Config, load_config
from perfgate.console import Console
from perfgate.core.check import measure_stored
from perfgate.judge.diagnose import diagnose
from perfgate.layout import Layout
from perfgate.report.markdown import render_markdown
from perfgate.report.summary import summary_lines
from perfgate.results import Finding, ResultsFile, RunResult
from perfgate.run.inapp import plans
from tests.postgres import PostgresServer

REPO = Path(__file__).resolve().parents[1]
APPS = REPO / "tests" / "apps"
ROWS = 30_000
QUICK = {"profile": {"warmup": 1, "samples": 5, "trials": 1}, "load": {"enabled": False}}


def _orders_db(path: Path, indexed: bool) -> Path:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, total INTEGER)")
        rows = ((i, f"customer-{i % 997}", i % 113) for i in range(1, ROWS + 1))
        db.executemany("INSERT INTO orders VALUES (?, ?, ?)", rows)
        if indexed:
            db.execute("CREATE INDEX orders_by_customer ON orders (customer)")
    db.close()
    return path


def _config(tmp_path: Path, url: str, paths: dict[str, str], **extra: Any) -> Config:
    shutil.copy(APPS / "advice_app.py", tmp_path / "advice_app.py")
    app = {"target": "advice_app:create_app()", "workers": 2, "startup_timeout_s": 30}
    app["env"] = {"ADVICE_APP_URL": url, **extra.pop("env", {})}
    document = {
        "app": {**app, **extra.pop("app", {})},
        "endpoints": [{"name": name, "path": path} for name, path in paths.items()],
        **QUICK,
        **extra,
    }
    path = tmp_path / "thresholds.yaml"
    path.write_text(yaml.safe_dump(document))
    return load_config(path)


def _measured(config: Config, out: Path) -> RunResult:
    return measure_stored(config, None, Layout(out), Console())[0]


def _kind(findings: list[Finding], kind: str) -> list[Finding]:
    return [f for f in findings if f.kind == kind]


PATHS = {"orders": "/orders", "catalog": "/catalog", "clock": "/clock", "cached": "/cached"}


def test_unindexed_filter_gets_the_index_verified_on_a_copy(tmp_path: Path) -> None:
    database = _orders_db(tmp_path / "orders.db", indexed=False)
    before = database.read_bytes()
    run = _measured(_config(tmp_path, f"sqlite:///{database}", PATHS), tmp_path / "out")
    orders = next(p for p in run.endpoints if p.name == "orders")
    assert orders.queries is not None
    (plan,) = orders.queries.plans
    assert plan.database == "sqlite" and plan.lines == ["SCAN orders"]
    (scan,) = plan.scans
    assert (scan.table, scan.columns, scan.rows) == ("orders", ["customer"], ROWS)
    assert scan.create_index == "CREATE INDEX ix_orders_customer ON orders (customer)"
    assert scan.verified is True
    assert scan.plan_after == ["SEARCH orders USING INDEX ix_orders_customer (customer=?)"]
    assert scan.ms_before is not None and scan.ms_after is not None
    assert database.read_bytes() == before  # the app's own database was only read

    findings = diagnose(run)
    (index,) = _kind(findings, "missing_index")
    assert index.endpoint == "orders" and index.severity == "LOW"
    assert index.evidence["plan_line"] == "SCAN orders" and index.evidence["rows"] == ROWS
    assert "CREATE INDEX ix_orders_customer ON orders (customer)" in index.recommendation
    assert "Verified on a scratch copy" in index.recommendation
    assert index.statement is not None and "WHERE orders.customer = ?" in index.statement
    assert index.saving_ms is not None and index.saving_ms > 0
    assert index.next_run is not None

    # Caching: the catalog and the orders' sums answer the same bytes every time; the clock
    # changes within the probe pass, and the cached endpoint already says how long to keep it.
    by_name = {p.name: p for p in run.endpoints}
    assert by_name["catalog"].identical_body is True and by_name["catalog"].cache_headers == []
    assert by_name["clock"].identical_body is False
    assert by_name["cached"].cache_headers == ["cache-control"]
    caches = {f.endpoint: f for f in _kind(findings, "cacheable")}
    assert set(caches) == {"catalog", "orders"}
    cache = caches["catalog"]
    assert cache.evidence["cache_headers"] == "none"
    assert cache.saving_ms == cache.evidence["median_ms"]
    assert "Cache-Control" in cache.recommendation

    report = render_markdown(ResultsFile(verdict="pass", checks=[], run=run, findings=findings))
    ranked = report[report.index("### Fixes by measured saving") :].split("\n\n")[1]
    assert ranked.count("cacheable") == 2 and ranked.count("missing_index") == 1
    row = "| SCAN orders | 30000 | CREATE INDEX ix_orders_customer ON orders (customer) |"
    assert f"{row} yes, on a copy |" in report


def test_with_the_index_there_is_no_index_finding(tmp_path: Path) -> None:
    database = _orders_db(tmp_path / "orders.db", indexed=True)
    run = _measured(
        _config(tmp_path, f"sqlite:///{database}", {"orders": "/orders"}), tmp_path / "out"
    )
    (orders,) = run.endpoints
    assert orders.queries is not None
    (plan,) = orders.queries.plans
    assert plan.scans == [] and "USING COVERING INDEX orders_by_customer" not in str(plan.lines)
    assert any("orders_by_customer" in line for line in plan.lines)
    assert _kind(diagnose(run), "missing_index") == []


@pytest.mark.parametrize("pool", [1, 4])
def test_a_pool_smaller_than_the_threads_makes_requests_wait(tmp_path: Path, pool: int) -> None:
    database = _orders_db(tmp_path / "orders.db", indexed=True)
    config = _config(
        tmp_path, f"sqlite:///{database}", {"held": "/held"},
        app={"workers": 1, "worker_class": "gthread", "threads": 4},
        env={"ADVICE_APP_POOL": str(pool), "ADVICE_APP_HOLD_MS": "20"},
        load={"concurrency": [4], "duration_s": 1.5, "warmup_s": 0.2},
    )  # fmt: skip
    run = _measured(config, tmp_path / "out")
    assert run.pool is not None and run.pool.capacity == pool and run.pool.processes == 1
    assert run.pool.checkouts >= run.load[0].requests  # the load phase's checkouts, at least
    found = _kind(diagnose(run), "pool_wait")
    if pool == 4:
        assert run.pool.waits == 0 and found == []
        return
    # Four threads share one connection held 20 ms a time: most checkouts wait.
    assert run.pool.waits > run.pool.checkouts / 2 and run.pool.wait_ms > 0
    (finding,) = found
    assert finding.severity == "MEDIUM" and finding.evidence["pool_per_process"] == 1
    assert finding.evidence["threads_per_worker"] == 4
    assert "pool_size at least the threads per worker (4)" in finding.recommendation
    assert finding.saving_ms is not None and finding.saving_ms > 0


@pytest.mark.parametrize("indexed", [False, True])
def test_postgresql_plans_come_through_the_apps_connection(
    tmp_path: Path, postgres: PostgresServer, indexed: bool
) -> None:
    database = f"advice_{'indexed' if indexed else 'plain'}"
    postgres.psql(f"CREATE DATABASE {database}")
    index = "CREATE INDEX orders_by_customer ON orders (customer);" if indexed else ""
    postgres.psql(
        "CREATE TABLE orders (id serial PRIMARY KEY, customer text, total int);"
        f"INSERT INTO orders (customer, total) SELECT 'customer-' || (i % 997), i % 113 "
        f"FROM generate_series(1, {ROWS}) AS i; {index} ANALYZE orders",
        database,
    )
    run = _measured(
        _config(tmp_path, postgres.url(database), {"orders": "/orders"}), tmp_path / "out"
    )
    (orders,) = run.endpoints
    assert orders.queries is not None
    (plan,) = orders.queries.plans
    assert plan.database == "postgresql" and plan.error is None
    assert "customer-17" not in str(plan.lines)  # the parameter's value stayed in the app
    assert any("Filter:" in line and "?" in line for line in plan.lines) != indexed
    findings = _kind(diagnose(run), "missing_index")
    if indexed:
        assert plan.scans == [] and findings == []
        assert any("orders_by_customer" in line for line in plan.lines)
        return
    (scan,) = plan.scans
    assert "Seq Scan on orders" in scan.line
    assert (scan.table, scan.columns, scan.rows, scan.verified) == (
        "orders",
        ["customer"],
        ROWS,
        None,
    )
    (finding,) = findings
    assert "CREATE INDEX ix_orders_customer ON orders (customer)" in finding.recommendation
    assert "Not tried on a copy" in finding.recommendation
    assert (
        postgres.psql("SELECT count(*) FROM pg_indexes WHERE tablename = 'orders'", database) == "1"
    )


def _explain(database: Path, statement: str, parameters: tuple[object, ...]) -> dict[str, Any]:
    with sqlite3.connect(database) as connection:
        plan = plans.explain("sqlite", connection.cursor(), statement, parameters)
    connection.close()
    assert plan is not None
    return plan


def test_plans_read_aliases_and_leave_unfiltered_scans_alone(tmp_path: Path) -> None:
    database = _orders_db(tmp_path / "orders.db", indexed=False)
    aliased = _explain(database, "SELECT o.id FROM orders AS o WHERE o.customer = ?", ("c-1",))
    assert aliased["lines"] == ["SCAN o"]
    (scan,) = aliased["scans"]
    assert (scan["table"], scan["columns"], scan["verified"]) == ("orders", ["customer"], True)
    two = _explain(database, "SELECT id FROM orders WHERE total > ? AND customer = ?", (5, "c"))
    assert two["scans"][0]["create_index"] == (
        "CREATE INDEX ix_orders_customer_total ON orders (customer, total)"
    )
    assert _explain(database, "SELECT id, total FROM orders ORDER BY id", ())["scans"] == []
    assert _explain(database, "SELECT id FROM orders WHERE id = ?", (3,))["scans"] == []
    assert plans.explain("sqlite", None, "INSERT INTO orders VALUES (?, ?, ?)", ()) is None
    update = _explain(database, "UPDATE orders SET total = ? WHERE orders.customer = ?", (1, "c"))
    (scan,) = update["scans"]
    assert (scan["columns"], scan["verified"], scan["ms_before"]) == (["customer"], True, None)
    with sqlite3.connect(database) as connection:  # planned on the copy, never run
        assert connection.execute("SELECT count(*) FROM orders WHERE total = 1").fetchone() == (
            ROWS // 113 + (1 if ROWS % 113 >= 1 else 0),
        )
    connection.close()


def test_the_example_report_ranks_its_fixes_and_finds_its_indexes_in_place(tmp_path: Path) -> None:
    app = {
        "target": "examples.softfactory.app:create_app()", "workers": 2, "startup_timeout_s": 30,
        "env": {"SOFTFACTORY_DB": str(tmp_path / "sf.db"), "PYTHONPATH": str(REPO)},
    }  # fmt: skip
    paths = {
        "health": "/health", "chef-list": "/api/coocook/chefs",
        "chef-detail": "/api/coocook/chefs/7",
        "products-by-category": "/api/products?category=knives&per_page=50",
    }  # fmt: skip
    document = {
        "app": app,
        "endpoints": [{"name": n, "path": p} for n, p in paths.items()],
        **QUICK,
    }
    (tmp_path / "thresholds.yaml").write_text(yaml.safe_dump(document))
    run = _measured(load_config(tmp_path / "thresholds.yaml"), tmp_path / "out")
    findings = diagnose(run)
    # Its foreign keys and the category are indexed: plans were taken, none scans a filter.
    plans = [plan for p in run.endpoints if p.queries for plan in p.queries.plans]
    assert len(plans) >= 6 and all(plan.scans == [] and plan.error is None for plan in plans)
    assert _kind(findings, "missing_index") == []
    cached = {f.endpoint for f in _kind(findings, "cacheable")}
    assert cached == {"chef-list", "chef-detail", "products-by-category"}  # not health
    results = ResultsFile(verdict="pass", checks=[], run=run, findings=findings)
    report = render_markdown(results)
    table = report[report.index("### Fixes by measured saving") :].split("\n\n")[1]
    first = table.splitlines()[2]
    # The chef list's 41 statements make it the slowest answer: caching it saves the most.
    assert first.startswith("| 1 | cacheable:") and "| chef-list |" in first
    assert "n_plus_one" in table
    (top,) = [line for line in summary_lines(results, Layout(tmp_path)) if "top fix" in line]
    assert top.startswith("  top fix      chef-list cacheable: saves ")
