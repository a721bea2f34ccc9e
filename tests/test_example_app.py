"""Tests for the bundled SoftFactory example app (examples/softfactory)."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from examples.softfactory import seed
from examples.softfactory.app import create_app

REPO_ROOT = Path(__file__).resolve().parents[1]
GUNICORN = [sys.executable, "-m", "gunicorn"]


def _make_app(monkeypatch: pytest.MonkeyPatch, db: Path) -> Flask:
    monkeypatch.setenv("SOFTFACTORY_DB", str(db))
    app = create_app()
    app.config["TESTING"] = True
    return app


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    app = _make_app(monkeypatch, tmp_path / "softfactory.db")
    yield app
    app.extensions["softfactory.engine"].dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def test_health(client: FlaskClient) -> None:
    resp = client.get("/health")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok"}


def test_chef_list_shape(client: FlaskClient) -> None:
    chefs = client.get("/api/coocook/chefs").get_json()
    assert len(chefs) == seed.N_CHEFS >= 24  # "dozens"
    for chef in chefs:
        assert set(chef) == {"id", "name", "specialty", "dishes"}
        assert 3 <= len(chef["dishes"]) <= 8
        for dish in chef["dishes"]:
            assert set(dish) == {"id", "name", "price", "avg_rating", "review_count"}
            if dish["review_count"]:
                assert 1 <= dish["avg_rating"] <= 5
            else:
                assert dish["avg_rating"] is None


def test_seeding_is_deterministic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bodies = []
    for name in ("a", "b"):
        app = _make_app(monkeypatch, tmp_path / name / "softfactory.db")
        client = app.test_client()
        bodies.append(
            [
                client.get(url).data
                for url in (
                    "/api/coocook/chefs",
                    "/api/coocook/chefs/7",
                    "/api/products?page=3&per_page=50",
                )
            ]
        )
        app.extensions["softfactory.engine"].dispose()
    assert bodies[0] == bodies[1]


def test_existing_database_is_not_reseeded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "softfactory.db"
    _make_app(monkeypatch, db).extensions["softfactory.engine"].dispose()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE chefs SET name = 'Marker' WHERE id = 1")
    conn.close()
    client = _make_app(monkeypatch, db).test_client()
    assert client.get("/api/coocook/chefs/1").get_json()["name"] == "Marker"


def test_stale_database_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "softfactory.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        conn.execute("INSERT INTO meta VALUES ('schema_version', 'softfactory-0')")
    conn.close()
    client = _make_app(monkeypatch, db).test_client()
    assert len(client.get("/api/coocook/chefs").get_json()) == seed.N_CHEFS


def test_chef_detail(client: FlaskClient) -> None:
    listed = client.get("/api/coocook/chefs").get_json()[0]
    resp = client.get(f"/api/coocook/chefs/{listed['id']}")
    assert resp.status_code == 200
    chef = resp.get_json()
    assert chef["name"] == listed["name"]
    assert [d["id"] for d in chef["dishes"]] == [d["id"] for d in listed["dishes"]]
    for detail, summary in zip(chef["dishes"], listed["dishes"], strict=True):
        ratings = [r["rating"] for r in detail["reviews"]]
        assert len(ratings) == summary["review_count"]
        assert all(1 <= r <= 5 for r in ratings)
        if ratings:
            assert summary["avg_rating"] == round(sum(ratings) / len(ratings), 2)


def test_chef_detail_404(client: FlaskClient) -> None:
    resp = client.get("/api/coocook/chefs/99999")
    assert resp.status_code == 404
    assert resp.get_json() == {"error": "chef not found"}


def test_products_pagination(client: FlaskClient) -> None:
    first = client.get("/api/products").get_json()
    assert (first["page"], first["per_page"], first["total"]) == (1, 20, seed.N_PRODUCTS)
    assert len(first["items"]) == 20
    assert set(first["items"][0]) == {"id", "name", "category", "price", "description"}

    seen: list[int] = []
    page = 1
    while items := client.get(f"/api/products?page={page}&per_page=100").get_json()["items"]:
        seen.extend(item["id"] for item in items)
        page += 1
    assert len(seen) == len(set(seen)) == seed.N_PRODUCTS
    assert seen == sorted(seen)

    past_end = client.get("/api/products?page=99&per_page=100").get_json()
    assert past_end["items"] == [] and past_end["total"] == seed.N_PRODUCTS


def test_products_category_filter(client: FlaskClient) -> None:
    totals = 0
    for category in seed.CATEGORIES:
        body = client.get(f"/api/products?category={category}&per_page=100").get_json()
        assert body["total"] > 0
        assert all(item["category"] == category for item in body["items"])
        totals += body["total"]
    assert totals == seed.N_PRODUCTS
    assert client.get("/api/products?category=nope").get_json()["total"] == 0


@pytest.mark.parametrize(
    "query", ["page=0", "page=-2", "page=abc", "per_page=0", "per_page=101", "per_page=1.5"]
)
def test_products_bad_params(client: FlaskClient, query: str) -> None:
    resp = client.get(f"/api/products?{query}")
    assert resp.status_code == 400
    assert "error" in resp.get_json()


def test_chef_list_runs_one_plus_n_selects(app: Flask, client: FlaskClient) -> None:
    client.get("/api/coocook/chefs")  # warm-up: first connect may run dialect probes
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = app.extensions["softfactory.engine"]
    event.listen(engine, "before_cursor_execute", record)
    try:
        chefs = client.get("/api/coocook/chefs").get_json()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert all(s.lstrip().upper().startswith("SELECT") for s in statements), statements
    assert len(statements) == 1 + len(chefs) == 1 + seed.N_CHEFS


def _start_and_query(db: str, barrier: Any) -> None:
    os.environ["SOFTFACTORY_DB"] = db
    barrier.wait()  # release every process into create_app() at the same moment
    chefs = create_app().test_client().get("/api/coocook/chefs").get_json()
    if len(chefs) != seed.N_CHEFS:
        raise SystemExit(1)


def test_concurrent_start_builds_one_valid_db(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "instance" / "softfactory.db"  # folder does not exist yet
    builds = tmp_path / "builds.log"
    real_build = seed._build

    def logging_build(session: Any, rng: Any) -> None:
        with builds.open("a") as log:
            log.write(f"{os.getpid()}\n")
        real_build(session, rng)

    monkeypatch.setattr(seed, "_build", logging_build)  # forked children inherit it
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(6)
    procs = [ctx.Process(target=_start_and_query, args=(str(db), barrier)) for _ in range(6)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
    assert [p.exitcode for p in procs] == [0] * 6
    assert len(builds.read_text().split()) == 1, "database was seeded more than once"
    assert seed.is_current(db)
    # No half-built temp files left next to the database.
    assert sorted(p.name for p in db.parent.iterdir()) == ["softfactory.db"]
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM chefs").fetchone()[0] == seed.N_CHEFS
        assert conn.execute("SELECT count(*) FROM meta").fetchone()[0] == 1
    conn.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


def test_gunicorn_smoke(tmp_path: Path) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "SOFTFACTORY_DB": str(tmp_path / "softfactory.db")}
    cmd = [*GUNICORN, "--no-control-socket", "-w", "2", "-b", f"127.0.0.1:{port}"]
    proc = subprocess.Popen(
        [*cmd, "examples.softfactory.app:create_app()"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            try:
                if _get(f"{base}/health") == (200, {"status": "ok"}):
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "gunicorn did not become ready in 15 s"
            time.sleep(0.1)

        status, chefs = _get(f"{base}/api/coocook/chefs")
        assert status == 200 and len(chefs) == seed.N_CHEFS
        status, chef = _get(f"{base}/api/coocook/chefs/{chefs[0]['id']}")
        assert status == 200 and chef["name"] == chefs[0]["name"]
        assert _get(f"{base}/api/coocook/chefs/99999") == (404, {"error": "chef not found"})
        status, products = _get(f"{base}/api/products?page=2&per_page=10&category=spices")
        assert status == 200 and products["page"] == 2 and len(products["items"]) == 10
        assert _get(f"{base}/api/products?per_page=500")[0] == 400
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        if proc.stderr:
            proc.stderr.close()
    assert proc.returncode == 0, f"gunicorn exited with {proc.returncode}"
