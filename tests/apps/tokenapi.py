"""A token-protected JSON API, as real ones are: a login that hands out short-lived tokens.

POST /api/login takes {"username": "demo", "password": $TOKENAPI_PASS} and answers
{"access_token": ..., "expires_in": TOKENAPI_TTL_S (default 3)}; the token is signed, so every
worker of every instance accepts it until it expires. GET /api/me, GET /api/users/<id> (ids 1-3,
else 404) and POST /api/search (JSON only: anything else is a 400) need
`Authorization: Bearer <token>`, else 401. GET /health is open. POST /api/notes (JSON) appends a
note to the file TOKENAPI_NOTES (read back by GET /api/notes), so a write endpoint has data to
reset.

Like apps that log too much, it prints each token it issues and the password it was sent
(perfgate must mask both in the app log it keeps); TOKENAPI_LOGINS_FILE, when set, gets one line
per token issued, so a test knows every token there was.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
from pathlib import Path

from flask import Flask, Response, jsonify, request

USERS = {1: "ada", 2: "grace", 3: "edsger"}
KEY = b"tokenapi-signing-key"


def _sign(payload: str) -> str:
    return hmac.new(KEY, payload.encode(), hashlib.sha256).hexdigest()[:32]


def _valid(token: str) -> bool:
    nonce, _, rest = token.partition(".")
    expires, _, signature = rest.partition(".")
    if not (nonce and expires and signature):
        return False
    if not hmac.compare_digest(signature, _sign(f"{nonce}.{expires}")):
        return False
    return expires.isdigit() and time.time() * 1000 < int(expires)


def create_app() -> Flask:
    app = Flask(__name__)
    password = os.environ["TOKENAPI_PASS"]
    ttl = float(os.environ.get("TOKENAPI_TTL_S", "3"))
    logins = os.environ.get("TOKENAPI_LOGINS_FILE")
    notes = Path(os.environ.get("TOKENAPI_NOTES", "notes.json"))

    @app.before_request
    def _authorize() -> Response | None:
        if request.path in ("/health", "/api/login"):
            return None
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or not _valid(token):
            return Response('{"error": "unauthorized"}', 401, mimetype="application/json")
        return None

    @app.get("/health")
    def health() -> Response:
        return jsonify(status="ok")

    @app.post("/api/login")
    def login() -> Response | tuple[Response, int]:
        data = request.get_json(silent=True) or {}
        print(f"login attempt user={data.get('username')} password={data.get('password')}")
        if data.get("username") != "demo" or data.get("password") != password:
            return jsonify(error="bad credentials"), 403
        nonce = secrets.token_hex(16)
        expires = str(int((time.time() + ttl) * 1000))  # in ms
        token = f"{nonce}.{expires}.{_sign(f'{nonce}.{expires}')}"
        print(f"issued token {token}", flush=True)
        if logins:
            with open(logins, "a", encoding="utf-8") as file:
                file.write(token + "\n")
        return jsonify(access_token=token, token_type="bearer", expires_in=ttl)

    @app.get("/api/me")
    def me() -> Response:
        return jsonify(user="demo", roles=["reader"])

    @app.get("/api/users/<int:user_id>")
    def user(user_id: int) -> Response | tuple[Response, int]:
        if user_id not in USERS:
            return jsonify(error="no such user"), 404
        time.sleep(0.004)  # a lookup that costs something, as a database's would
        return jsonify(id=user_id, name=USERS[user_id])

    @app.post("/api/search")
    def search() -> Response | tuple[Response, int]:
        data = request.get_json(silent=True)
        if not isinstance(data, dict) or not isinstance(data.get("query"), str):
            return jsonify(error="send JSON with a query"), 400
        found = [{"id": i, "name": n} for i, n in USERS.items() if data["query"] in n]
        return jsonify(results=found)

    @app.post("/api/notes")
    def add_note() -> Response | tuple[Response, int]:
        data = request.get_json(silent=True)
        if not isinstance(data, dict) or "text" not in data:
            return jsonify(error="send JSON with a text"), 400
        with notes.open("a", encoding="utf-8") as file:
            file.write(json.dumps(data["text"]) + "\n")
        return jsonify(saved=True), 201

    @app.get("/api/notes")
    def list_notes() -> Response:
        lines = notes.read_text(encoding="utf-8").splitlines() if notes.exists() else []
        return jsonify(count=len(lines))

    return app
