"""A plain WSGI app on SQLAlchemy Core + SQLite with a known number of statements per endpoint.

/health 0 statements, /one 1, /three 3, /n-plus-one 1 + N (N = QUERIES_APP_N items, default 12:
one SELECT for the list, then one SELECT per item). The database file is $QUERIES_APP_DB.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, insert, select

StartResponse = Callable[..., Any]

metadata = MetaData()
items = Table("items", metadata, Column("id", Integer, primary_key=True), Column("name", String))
tags = Table(
    "tags", metadata, Column("id", Integer, primary_key=True), Column("item_id", Integer),
    Column("tag", String),
)  # fmt: skip


def create_app() -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    count = int(os.environ.get("QUERIES_APP_N", "12"))
    engine = create_engine(f"sqlite:///{os.environ['QUERIES_APP_DB']}")
    # Every worker runs this at start: IF NOT EXISTS and OR IGNORE make the race harmless.
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, name TEXT)")
        conn.exec_driver_sql(
            "CREATE TABLE IF NOT EXISTS tags (id INTEGER PRIMARY KEY, item_id INTEGER, tag TEXT)"
        )
        rows = [{"id": i, "name": f"item {i}"} for i in range(1, count + 1)]
        conn.execute(insert(items).prefix_with("OR IGNORE"), rows)
        tag_rows = [{"id": i, "item_id": i, "tag": f"t{i}"} for i in range(1, count + 1)]
        conn.execute(insert(tags).prefix_with("OR IGNORE"), tag_rows)

    def handle(path: str) -> object:
        if path == "/health":
            return {"status": "ok"}
        with engine.connect() as conn:
            if path == "/one":
                return conn.execute(select(items.c.name).where(items.c.id == 1)).scalar()
            if path == "/three":
                first = conn.execute(select(items.c.id).where(items.c.id.in_([1, 2, 3]))).all()
                second = conn.execute(select(tags.c.tag).where(tags.c.item_id == 2)).all()
                third = conn.execute(select(items.c.name).where(items.c.name == "x")).all()
                return [len(first), len(second), len(third)]
            if path == "/n-plus-one":
                listed = conn.execute(select(items.c.id).order_by(items.c.id)).scalars().all()
                return [
                    conn.execute(select(tags.c.tag).where(tags.c.item_id == i)).scalar()
                    for i in listed
                ]
        return None

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        answer = handle(environ.get("PATH_INFO", "/"))
        body = json.dumps(answer).encode()
        status = "404 Not Found" if answer is None else "200 OK"
        start_response(
            status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]

    return app
