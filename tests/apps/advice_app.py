"""A WSGI app on SQLAlchemy Core whose right advice is known: plans, caching, pooling.

The database is $ADVICE_APP_URL (a SQLAlchemy URL; the test fills it first: `orders` with tens
of thousands of rows, `customer` indexed or not). /orders filters by `customer`; /catalog answers
the same JSON every time, without cache headers; /clock answers the time to the second;
/held holds its pooled connection for $ADVICE_APP_HOLD_MS; the pool has $ADVICE_APP_POOL
connections and no overflow.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, func, select

StartResponse = Callable[..., Any]

metadata = MetaData()
orders = Table(
    "orders", metadata, Column("id", Integer, primary_key=True), Column("customer", String),
    Column("total", Integer),
)  # fmt: skip
CATALOG = {"items": [{"sku": f"sku-{i}", "name": f"item {i}", "price": i * 3} for i in range(50)]}


def create_app() -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    pool = int(os.environ.get("ADVICE_APP_POOL", "5"))
    hold_s = float(os.environ.get("ADVICE_APP_HOLD_MS", "0")) / 1000
    url = os.environ["ADVICE_APP_URL"]
    extra: dict[str, Any] = {"pool_size": pool, "max_overflow": 0, "pool_timeout": 5}
    if url.startswith("sqlite"):
        extra["connect_args"] = {"check_same_thread": False}
    engine = create_engine(url, **extra)

    def handle(path: str) -> tuple[object, list[tuple[str, str]]]:
        if path == "/catalog":
            return CATALOG, []
        if path == "/cached":
            return CATALOG, [("Cache-Control", "max-age=60")]
        if path == "/clock":
            return {"now": time.strftime("%Y-%m-%dT%H:%M:%S")}, []
        with engine.connect() as conn:
            if path == "/orders":
                query = select(func.count(), func.sum(orders.c.total)).where(
                    orders.c.customer == "customer-17"
                )
                count, total = conn.execute(query).one()
                return {"count": count, "total": total}, []
            if path == "/held":
                time.sleep(hold_s)
                return conn.execute(select(orders.c.total).where(orders.c.id == 1)).scalar(), []
        return None, []

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        answer, headers = handle(environ.get("PATH_INFO", "/"))
        body = json.dumps(answer).encode()
        status = "404 Not Found" if answer is None else "200 OK"
        headers += [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        start_response(status, headers)
        return [body]

    return app
