"""Statement counting: real gunicorn, real SQLite files, the real example app and a known app."""

from __future__ import annotations

import http.client
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from perfgate.config import AppConfig, Config, load_config
from perfgate.console import Console
from perfgate.core.check import measure_stored
from perfgate.judge.diagnose import diagnose
from perfgate.layout import Layout
from perfgate.results import RunResult
from perfgate.run.inapp import instrument
from perfgate.run.inapp.instrument import normalize
from perfgate.run.server import gunicorn_command, running_app

REPO = Path(__file__).resolve().parents[1]
APPS = REPO / "tests" / "apps"
QUICK = {"profile": {"warmup": 1, "samples": 5, "trials": 1}, "load": {"enabled": False}}


def _measured(config: Config, out: Path) -> RunResult:
    """A stored-mode run, as `perfgate check` measures it (no baseline, so no confirmation)."""
    return measure_stored(config, None, Layout(out), Console())[0]


def _config(tmp_path: Path, app: dict[str, Any], paths: dict[str, str]) -> Config:
    document = {
        "app": {"workers": 2, "startup_timeout_s": 30, **app},
        "endpoints": [{"name": name, "path": path} for name, path in paths.items()],
        **QUICK,
    }
    path = tmp_path / "thresholds.yaml"
    path.write_text(yaml.safe_dump(document))
    return load_config(path)


def _queries_app(tmp_path: Path, **app: object) -> Config:
    shutil.copy(APPS / "queries_app.py", tmp_path / "queries_app.py")
    env = {"QUERIES_APP_DB": str(tmp_path / "q.db"), "QUERIES_APP_N": "12"}
    paths = {"zero": "/health", "one": "/one", "three": "/three", "n-plus-one": "/n-plus-one"}
    return _config(tmp_path, {"target": "queries_app:create_app()", "env": env, **app}, paths)


def _by_name(run: RunResult) -> dict[str, float | None]:
    return {p.name: p.queries_per_request for p in run.endpoints}


def test_normalize_folds_literals_numbers_and_in_lists() -> None:
    raw = "SELECT a FROM t  WHERE id IN (?, ?, ?) AND name = 'x''y' AND n > 42\n AND t2.c = :p_1"
    assert normalize(raw) == "SELECT a FROM t WHERE id IN (?) AND name = ? AND n > ? AND t2.c = ?"
    assert normalize("INSERT INTO t VALUES (1), (2), (3)") == "INSERT INTO t VALUES (?)"
    assert normalize("SELECT x::text FROM table1 WHERE a = %s") == (
        "SELECT x::text FROM table1 WHERE a = ?"
    )


def test_known_app_counts_are_exact(tmp_path: Path) -> None:
    run = _measured(_queries_app(tmp_path), tmp_path / "out")
    assert _by_name(run) == {"zero": 0, "one": 1, "three": 3, "n-plus-one": 13}
    assert run.queries_note is None
    n_plus_one = next(p for p in run.endpoints if p.name == "n-plus-one")
    assert n_plus_one.queries is not None
    assert n_plus_one.queries.per_request == [13, 13, 13]
    top = n_plus_one.queries.shapes[0]
    assert top.count == 12 and "FROM tags WHERE tags.item_id = ?" in top.shape
    findings = [f for f in diagnose(run) if f.kind == "n_plus_one"]
    assert [(f.endpoint, f.evidence["statement_runs"]) for f in findings] == [("n-plus-one", 12)]
    left = [
        p.name for p in (tmp_path / "out" / "queries").iterdir() if not p.name.startswith("pool-")
    ]
    assert left == []  # every statement record was read and removed (pool totals stay)


def test_switched_off_counts_nothing_and_says_why(tmp_path: Path) -> None:
    run = measure_stored(
        _queries_app(tmp_path, count_queries=False), None, Layout(tmp_path / "out"), Console()
    )[0]
    assert set(_by_name(run).values()) == {None}
    assert run.queries_note is not None and "count_queries: false" in run.queries_note


def test_app_without_sqlalchemy_reports_null_not_zero(tmp_path: Path) -> None:
    shutil.copy(APPS / "tiny.py", tmp_path / "tiny.py")
    config = _config(tmp_path, {"target": "tiny:create_app()"}, {"health": "/health"})
    run = _measured(config, tmp_path / "out")
    assert _by_name(run) == {"health": None}
    assert run.queries_note is not None and "SQLAlchemy" in run.queries_note


def _get(port: int, path: str, headers: dict[str, str]) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def test_timed_requests_are_untouched_and_ids_cannot_escape(tmp_path: Path) -> None:
    config = _queries_app(tmp_path)
    out = tmp_path / "out"
    with running_app(config.app, config.folder, out) as app:
        assert app.query_dir is not None
        port = int(app.base_url.rsplit(":", 1)[1])
        plain = _get(port, "/three", {})
        assert not [h for h, _ in plain.getheaders() if h.lower().startswith("x-perfgate")]
        assert plain.getheader("Content-Length") == "9"  # "[3, 1, 0]": the app's own bytes
        _get(port, "/three", {"X-Perfgate-Request-Id": "../../../escaped0123456789"})
        _get(port, "/three", {"X-Perfgate-Request-Id": "0123456789abcdef"})
        assert app.query_dir.exists()
    records = [p.name for p in app.query_dir.iterdir() if not p.name.startswith("pool-")]
    assert records == ["0123456789abcdef.json"]
    assert not list(tmp_path.rglob("escaped*"))


def test_example_chef_list_is_caught_with_its_exact_count(tmp_path: Path) -> None:
    app = {
        "target": "examples.softfactory.app:create_app()",
        "env": {"SOFTFACTORY_DB": str(tmp_path / "sf.db"), "PYTHONPATH": str(REPO)},
    }
    paths = {"chef-list": "/api/coocook/chefs", "chef-detail": "/api/coocook/chefs/7"}
    run = measure_stored(_config(tmp_path, app, paths), None, Layout(tmp_path / "out"), Console())[
        0
    ]
    assert _by_name(run) == {"chef-list": 41, "chef-detail": 3}
    findings = [f for f in diagnose(run) if f.kind == "n_plus_one"]
    assert len(findings) == 1
    finding = findings[0]
    assert finding.endpoint == "chef-list" and finding.severity == "HIGH"
    assert finding.evidence["statement_runs"] == 40
    assert finding.evidence["queries_per_request"] == 41
    assert finding.statement is not None and "WHERE dishes.chef_id = ?" in finding.statement


def test_only_wsgi_workers_get_the_wrapper(tmp_path: Path) -> None:
    def last(**app: object) -> str:
        config = AppConfig.model_validate({"target": "a:b()", **app})
        return gunicorn_command(config, tmp_path, 8000)[-1]

    assert last() == instrument.TARGET
    assert last(worker_class="gthread") == instrument.TARGET
    assert last(worker_class="uvicorn.workers.UvicornWorker") == "a:b()"
    assert last(count_queries=False) == "a:b()"


def test_listener_is_attached_only_while_a_counted_request_runs(tmp_path: Path) -> None:
    import sqlalchemy

    engine = sqlalchemy.create_engine("sqlite://")
    seen: list[int] = []

    def app(environ: dict[str, Any], start_response: Callable[..., object]) -> list[bytes]:
        seen.append(len(engine.dispatch.before_cursor_execute))
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1").scalar()
        if environ.get("PATH_INFO") == "/boom":
            raise RuntimeError("boom")
        start_response("200 OK", [])
        return [b"ok"]

    counting = instrument.Counting(app, tmp_path)
    marked = {"HTTP_X_PERFGATE_REQUEST_ID": "00112233445566778899aabbccddeeff"}
    counting({}, lambda *a: None)  # a timed request
    response = counting(dict(marked), lambda *a: None)
    assert list(response) == [b"ok"]
    response.close()  # type: ignore[attr-defined]
    with pytest.raises(RuntimeError):
        counting({**marked, "PATH_INFO": "/boom"}, lambda *a: None)
    counting({}, lambda *a: None)
    assert seen == [0, 1, 1, 0]  # attached for the counted requests only, even one that raised
    record = json.loads((tmp_path / "00112233445566778899aabbccddeeff.json").read_text())
    assert record == {"counted": True, "shapes": [record["shapes"][0]], "plans": record["plans"]}
    assert [(p["shape"], p["database"], p["scans"]) for p in record["plans"]] == [
        ("SELECT ?", "sqlite", [])
    ]
    assert (record["shapes"][0]["shape"], record["shapes"][0]["count"]) == ("SELECT ?", 1)
