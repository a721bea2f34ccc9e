"""An app whose SQLite database lives in the git-ignored instance/ folder, made by `python
seed.py` (its README's setup step): a fresh checkout has none until setup runs."""

import sqlite3
from pathlib import Path

DATABASE = Path(__file__).parent / "instance" / "shop.db"


def app(environ, start_response):
    if environ.get("PATH_INFO") == "/health":
        status, body = "200 OK", b"ok"
    else:
        with sqlite3.connect(f"file:{DATABASE}?mode=ro", uri=True) as db:
            rows = db.execute("SELECT name FROM products ORDER BY id LIMIT 20").fetchall()
        status, body = "200 OK", ",".join(name for (name,) in rows).encode()
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
