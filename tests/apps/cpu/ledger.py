"""A small Flask API whose work is plain Python: a ledger summarized on every request.

The instructions tests plant a CPU regression in it the way a PR would: `audit_entry`, a new
check run on every AUDIT_EVERY-th entry of the summary: here only the first; the edit they make
to the file audits every 16th, which adds about 5% to the summary's instructions.
"""

from __future__ import annotations

from flask import Flask, jsonify

AUDIT_EVERY = 1_000_000_000
# (id, amount in cents, tag)
ENTRIES = [(i, (i * 37) % 1000 - 300, f"t{i % 7}") for i in range(400)]


def score(amount: int) -> int:
    return amount * 3 if amount > 0 else -amount


def audit_entry(ident: int, amount: int, tag: str) -> bool:
    return len(str(tag)) < 8 and int(str(amount)) > -10_000 and str(ident).isdigit()


def create_app() -> Flask:
    app = Flask(__name__)

    @app.get("/health")
    def health() -> object:
        return jsonify(status="ok")

    @app.get("/summary")
    def summary() -> object:
        totals: dict[str, int] = {}
        for ident, amount, tag in ENTRIES:
            if ident % AUDIT_EVERY == 0 and not audit_entry(ident, amount, tag):
                continue
            totals[tag] = totals.get(tag, 0) + score(amount)
        return jsonify(totals=totals)

    @app.get("/tags")
    def tags() -> object:
        return jsonify(tags=sorted({tag for _, _, tag in ENTRIES}))

    return app
