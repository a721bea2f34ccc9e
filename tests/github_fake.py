"""A small, real HTTP server that answers like GitHub's REST API does for issue comments.

It runs on 127.0.0.1 on a free port in a thread, keeps comments in memory, and records every
request so tests can assert on headers. What it imitates, from GitHub's REST documentation:
- `GET /repos/{o}/{r}/issues/{n}/comments?per_page=&page=`: pages of at most 100 (default 30),
  with a `Link` header carrying rel="next", "last", "first" and "prev" as absolute URLs.
- `POST` to the same path: 201 with the new comment; `PATCH /repos/{o}/{r}/issues/comments/{id}`:
  200 with the updated one; 422 for a body over 65,536 characters.
- `GET /repos/{o}/{r}/pulls/{n}`: the pull request with `head.sha`; `GET /user`: 403, as for an
  installation token (whose comments are written by github-actions[bot]).
- 401 for a missing or unknown token, 403 "Resource not accessible by integration" when a
  read-only token writes, 404 for an unknown repository, pull request or comment.
- `x-ratelimit-limit/remaining/reset/used/resource` on every answer.
Tests can queue failures (a 500, a 429 with `retry-after`, a rate-limited 403) for the next
matching requests.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

WRITE_TOKEN = "ghs_WriteTokenForTests0123456789abcdef"
READ_TOKEN = "ghs_ReadOnlyTokenForTests9876543210fedc"
BODY_LIMIT = 65_536
BOT = {"login": "github-actions[bot]", "id": 41898282, "type": "Bot"}
HUMAN = {"login": "octocat", "id": 1, "type": "User"}

_COMMENTS = re.compile(r"^/repos/([^/]+/[^/]+)/issues/(\d+)/comments$")
_COMMENT = re.compile(r"^/repos/([^/]+/[^/]+)/issues/comments/(\d+)$")
_PULL = re.compile(r"^/repos/([^/]+/[^/]+)/pulls/(\d+)$")


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Failure:
    status: int
    headers: dict[str, str]
    message: str
    method: str | None  # None: any method


@dataclass
class FakeGitHub:
    """State of the fake; `url` is set once the server listens."""

    url: str = ""
    pulls: dict[tuple[str, int], str] = field(default_factory=dict)  # (repo, n) -> head sha
    comments: dict[int, dict[str, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    rate_remaining: int = 5000
    _next_id: int = 1000
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_pull(self, repo: str, number: int, head_sha: str = "a" * 40) -> None:
        self.pulls[(repo, number)] = head_sha

    def add_comment(self, repo: str, number: int, body: str, user: dict[str, Any] = HUMAN) -> int:
        with self._lock:
            return self._create(repo, number, body, user)["id"]  # type: ignore[no-any-return]

    def fail_next(
        self,
        status: int,
        headers: dict[str, str] | None = None,
        message: str = "Server Error",
        method: str | None = None,
        times: int = 1,
    ) -> None:
        for _ in range(times):
            self.failures.append(Failure(status, headers or {}, message, method))

    def comments_on(self, repo: str, number: int) -> list[dict[str, Any]]:
        return [c for c in self.comments.values() if c["_pr"] == (repo, number)]

    def _create(self, repo: str, number: int, body: str, user: dict[str, Any]) -> dict[str, Any]:
        self._next_id += 1
        comment = {
            "id": self._next_id,
            "node_id": f"IC_{self._next_id}",
            "body": body,
            "user": user,
            "html_url": f"https://github.com/{repo}/pull/{number}#issuecomment-{self._next_id}",
            "issue_url": f"{self.url}/repos/{repo}/issues/{number}",
            "_pr": (repo, number),
        }
        self.comments[self._next_id] = comment
        return comment

    def handle(
        self, method: str, target: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, str], Any]:
        split = urlsplit(target)
        body = json.loads(raw) if raw else None
        with self._lock:
            self.requests.append(Recorded(method, target, headers, body))
            for failure in self.failures:
                if failure.method in (None, method):
                    self.failures.remove(failure)
                    return failure.status, failure.headers, {"message": failure.message}
            auth = headers.get("authorization", "")
            token = auth.removeprefix("Bearer ").removeprefix("token ")
            if token not in (WRITE_TOKEN, READ_TOKEN):
                return 401, {}, _error("Bad credentials")
            self.rate_remaining -= 1
            return self._route(method, split.path, parse_qs(split.query), body, token)

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], body: Any, token: str
    ) -> tuple[int, dict[str, str], Any]:
        if match := _COMMENTS.match(path):
            repo, number = match.group(1), int(match.group(2))
            if (repo, number) not in self.pulls:
                return 404, {}, _error("Not Found")
            if method == "GET":
                return self._list(path, repo, number, query)
            if method == "POST":
                if token == READ_TOKEN:
                    return 403, {}, _error("Resource not accessible by integration")
                if problem := _check_body(body):
                    return 422, {}, problem
                return 201, {}, _public(self._create(repo, number, body["body"], BOT))
        if (match := _COMMENT.match(path)) and method == "PATCH":
            comment = self.comments.get(int(match.group(2)))
            if comment is None or comment["_pr"][0] != match.group(1):
                return 404, {}, _error("Not Found")
            if token == READ_TOKEN:
                return 403, {}, _error("Resource not accessible by integration")
            if problem := _check_body(body):
                return 422, {}, problem
            comment["body"] = body["body"]
            return 200, {}, _public(comment)
        if path == "/user" and method == "GET":
            # An installation token (GITHUB_TOKEN, ghs_...) has no user to read.
            return 403, {}, _error("Resource not accessible by integration")
        if (match := _PULL.match(path)) and method == "GET":
            key = (match.group(1), int(match.group(2)))
            if key not in self.pulls:
                return 404, {}, _error("Not Found")
            return 200, {}, {"number": key[1], "head": {"sha": self.pulls[key]}}
        return 404, {}, _error("Not Found")

    def _list(
        self, path: str, repo: str, number: int, query: dict[str, list[str]]
    ) -> tuple[int, dict[str, str], Any]:
        per_page = min(int(query.get("per_page", ["30"])[0]), 100)
        page = int(query.get("page", ["1"])[0])
        items = self.comments_on(repo, number)
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        links = []

        def link(p: int, rel: str) -> str:
            return f'<{self.url}{path}?per_page={per_page}&page={p}>; rel="{rel}"'

        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        if page > 1:
            links += [link(1, "first"), link(page - 1, "prev")]
        headers = {"Link": ", ".join(links)} if links else {}
        return 200, headers, [_public(c) for c in chunk]


def _error(message: str) -> dict[str, str]:
    return {"message": message, "documentation_url": "https://docs.github.com/rest"}


def _check_body(body: Any) -> dict[str, Any] | None:
    if not isinstance(body, dict) or not isinstance(body.get("body"), str):
        return {"message": "Invalid request.\n\nNo body given.", "status": "422"}
    if len(body["body"]) > BODY_LIMIT:
        return {
            "message": "Validation Failed",
            "errors": [
                {
                    "resource": "IssueComment",
                    "code": "custom",
                    "field": "body",
                    "message": "body is too long (maximum is 65536 characters)",
                }
            ],
            "status": "422",
        }
    return None


def _public(comment: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in comment.items() if not k.startswith("_")}


@contextmanager
def fake_github() -> Iterator[FakeGitHub]:
    """Serve a fresh FakeGitHub on 127.0.0.1 for the duration of the block."""
    state = FakeGitHub()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, extra, payload = state.handle(self.command, self.path, headers, raw)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            rate = {
                "x-ratelimit-limit": "5000",
                "x-ratelimit-remaining": str(max(0, state.rate_remaining)),
                "x-ratelimit-used": str(5000 - state.rate_remaining),
                "x-ratelimit-reset": str(int(time.time()) + 3600),
                "x-ratelimit-resource": "core",
            }
            # A queued failure's own headers (a rate-limited 403) replace the defaults.
            for name, value in (rate | {k.lower(): v for k, v in extra.items()}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
