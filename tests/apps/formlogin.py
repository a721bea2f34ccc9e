"""A server-rendered app with a form login, as Flask apps with Flask-WTF have: GET /login sets
a session cookie and renders a hidden csrf_token; POST /login (urlencoded username, password,
csrf_token) must send both back, and answers 302 with the signed-in session cookie. GET
/dashboard needs that session (else 302 to /login); GET /health is open. The password is
$FORMLOGIN_PASS."""

from __future__ import annotations

import os
import secrets

from flask import Flask, Response, redirect, request, session


def create_app() -> Flask:
    app = Flask(__name__)
    app.secret_key = "formlogin-test-key"
    password = os.environ["FORMLOGIN_PASS"]

    @app.get("/health")
    def health() -> str:
        return "ok"

    @app.get("/login")
    def login_page() -> str:
        session["csrf"] = secrets.token_hex(16)
        return (
            '<form method="post" action="/login">'
            f'<input type="hidden" name="csrf_token" value="{session["csrf"]}">'
            '<input name="username"><input name="password" type="password"></form>'
        )

    @app.post("/login")
    def login() -> Response | tuple[str, int]:
        if not session.get("csrf") or request.form.get("csrf_token") != session["csrf"]:
            return "CSRF token missing or wrong", 400
        if request.form.get("username") != "demo" or request.form.get("password") != password:
            return "bad credentials", 403
        session.clear()
        session["user"] = "demo"
        return redirect("/dashboard")

    @app.get("/dashboard")
    def dashboard() -> Response | str:
        if session.get("user") != "demo":
            return redirect("/login")
        return "<h1>Welcome back, demo</h1>"

    return app
