"""A small Flask API whose work is plain Python: a ledger summarized on every request.

The instructions tests plant a CPU regression in it the way a PR would: `audit_entry`, a new
check run on every entry of the summary (the `AUDIT` switch is the edit they make to the file).
"""

from __future__ import annotations

from flask import Flask, jsonify

AUDIT = False
ENTRIES = [{"id": i, "amount": (i * 37) % 1000 - 300, "tag": f"t{i % 7}"} for i in range(400)]


def score(entry: dict[str, object]) -> int:
    amount = int(str(entry["amount"]))
    return amount * 3 if amount > 0 else -amount


def audit_entry(entry: dict[str, object]) -> bool:
    return len(str(entry["tag"])) < 8 and int(str(entry["amount"])) > -10_000


def create_app() -> Flask:
    app = Flask(__name__)

    @app.get("/health")
    def health() -> object:
        return jsonify(status="ok")

    @app.get("/summary")
    def summary() -> object:
        totals: dict[str, int] = {}
        for entry in ENTRIES:
            if AUDIT and not audit_entry(entry):
                continue
            tag = str(entry["tag"])
            totals[tag] = totals.get(tag, 0) + score(entry)
        return jsonify(totals=totals)

    @app.get("/tags")
    def tags() -> object:
        return jsonify(tags=sorted({str(e["tag"]) for e in ENTRIES}))

    return app
