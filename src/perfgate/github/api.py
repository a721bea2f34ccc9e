"""The sticky pull-request comment: one comment per perfgate job, updated in place.

This module owns the conversation with GitHub's REST API: finding perfgate's earlier comment by
its hidden marker, creating or updating it, retrying server errors and rate limits, and keeping
the token out of every message. Posting a comment is advisory: every failure comes back as a
`CommentSkipped` with a reason, never as an exception, so it cannot change the gate's verdict.
Fitting the body under GitHub's size limit lives in `perfgate.github.fit`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from perfgate import __version__

DEFAULT_API_URL = "https://api.github.com"
_MARKER_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9._:/@+=-]+")


@dataclass(frozen=True)
class PullRequest:
    """Where the comment goes: `repo` is "owner/name"."""

    repo: str
    number: int


@dataclass(frozen=True)
class CommentPosted:
    action: str  # "created" or "updated"
    comment_id: int
    url: str


@dataclass(frozen=True)
class CommentSkipped:
    """The comment was not posted; `reason` is a one-line warning, already free of the token."""

    reason: str


CommentResult = CommentPosted | CommentSkipped


class GitHubError(Exception):
    """A request that failed for good. Its message never contains the token."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def marker(key: str) -> str:
    """The hidden HTML comment that identifies one job's comment.

    The key is reduced to a safe alphabet: `--` or `>` would end the HTML comment early.
    """
    safe = _MARKER_KEY_UNSAFE.sub("_", key).replace("--", "-_") or "default"
    return f"<!-- perfgate:{safe} -->"


class GitHubClient:
    """A small REST client: auth headers, bounded retries, same-host pagination.

    `sleep` and `clock` are parameters so tests can run retries without waiting. A wait longer
    than `max_wait` seconds (a primary rate limit that resets in half an hour) is not slept
    through: the request fails at once, because a PR comment is not worth holding a runner.
    """

    def __init__(
        self,
        token: str,
        api_url: str = DEFAULT_API_URL,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        max_attempts: int = 4,
        max_wait: float = 60.0,
        timeout: float = 30.0,
    ) -> None:
        self._token = token
        self.api_url = api_url.rstrip("/")
        self._session = session or requests.Session()
        self._sleep = sleep
        self._clock = clock
        self._max_attempts = max_attempts
        self._max_wait = max_wait
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"GitHubClient(api_url={self.api_url!r})"

    def redact(self, text: str) -> str:
        """Remove the token from text that may end up in a log or an exception."""
        return text.replace(self._token, "***") if self._token else text

    def request(self, method: str, url: str, json: dict[str, Any] | None = None) -> Any:
        """Send one API call (`url` is a path under the API) with retries; return its JSON."""
        return self._send(method, self.api_url + url, json).json()

    def paginate(self, url: str) -> Iterator[dict[str, Any]]:
        """Yield every item of a list endpoint, following `Link: rel="next"`."""
        next_url: str | None = self.api_url + url
        while next_url:
            response = self._send("GET", next_url, None)
            yield from response.json()
            next_url = response.links.get("next", {}).get("url")

    def _send(self, method: str, url: str, json: dict[str, Any] | None) -> requests.Response:
        if urlsplit(url).netloc != urlsplit(self.api_url).netloc:
            # A Link header pointing at another host must not receive our token.
            raise GitHubError(
                f"refusing to send the token off the API host: {urlsplit(url).netloc}"
            )
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": f"perfgate/{__version__}",
            "Authorization": f"Bearer {self._token}",
        }
        # Only GET and PATCH are safe to resend after a lost connection: a resent POST could
        # leave two comments behind.
        idempotent = method in ("GET", "PATCH")
        for attempt in range(1, self._max_attempts + 1):
            last = attempt == self._max_attempts
            try:
                response = self._session.request(
                    method, url, headers=headers, json=json, timeout=self._timeout
                )
            except requests.RequestException as exc:
                if last or not idempotent:
                    raise GitHubError(self.redact(f"{method} {url}: {exc}")) from None
                self._wait(self._backoff(attempt))
                continue
            if response.ok:
                return response
            wait = self._retry_wait(response, attempt)
            if wait is None or last:
                raise GitHubError(self._describe(method, url, response), response.status_code)
            if wait > self._max_wait:
                raise GitHubError(
                    self._describe(method, url, response) + f" (retry in {wait:.0f}s; gave up)",
                    response.status_code,
                )
            self._wait(wait)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _retry_wait(self, response: requests.Response, attempt: int) -> float | None:
        """Seconds to wait before retrying, or None when retrying cannot help."""
        status = response.status_code
        if status >= 500:
            return self._backoff(attempt)
        if status not in (403, 429):
            return None
        headers = response.headers
        if "retry-after" in headers:
            try:
                return max(0.0, float(headers["retry-after"]))
            except ValueError:
                return self._backoff(attempt)
        if headers.get("x-ratelimit-remaining") == "0" and "x-ratelimit-reset" in headers:
            try:
                return max(0.0, float(headers["x-ratelimit-reset"]) - self._clock())
            except ValueError:
                return self._backoff(attempt)
        # A 429 without headers is a secondary limit (GitHub asks for at least a minute);
        # a bare 403 is a permission problem that no retry fixes.
        return 60.0 if status == 429 else None

    @staticmethod
    def _backoff(attempt: int) -> float:
        return float(2 ** (attempt - 1))

    def _wait(self, seconds: float) -> None:
        self._sleep(min(seconds, self._max_wait))

    def _describe(self, method: str, url: str, response: requests.Response) -> str:
        try:
            detail = str(response.json().get("message", ""))
        except (ValueError, AttributeError):
            detail = response.text
        detail = " ".join(detail.split())[:200]
        path = urlsplit(url).path
        return self.redact(f"{method} {path} -> HTTP {response.status_code}: {detail}".rstrip(": "))


# Who writes a comment posted with the Actions token (GITHUB_TOKEN).
ACTIONS_BOT = "github-actions[bot]"


def token_login(client: GitHubClient) -> str:
    """The login that comments posted with this token carry. A personal token can read its
    user (`GET /user`); an Actions (installation) token cannot (403) and posts as
    github-actions[bot]."""
    try:
        return str(client.request("GET", "/user")["login"])
    except GitHubError as exc:
        # Only GitHub's own answer for an installation token; a rate limit is an error here too.
        if exc.status == 403 and "not accessible by integration" in str(exc):
            return ACTIONS_BOT
        raise


def find_comment(
    client: GitHubClient, pr: PullRequest, key: str, author: str
) -> dict[str, Any] | None:
    """Return perfgate's earlier comment for `key`, or None.

    A comment counts only if `author` (the token's own login) wrote it and its body starts with
    the marker, which perfgate always writes first: anyone can post a comment that starts with
    the marker, and perfgate must never edit (or fail on) someone else's comment. Of several
    matches (left by an older version or a race), the newest is kept up to date.
    """
    tag = marker(key)
    found = None
    for comment in client.paginate(f"/repos/{pr.repo}/issues/{pr.number}/comments?per_page=100"):
        user = comment.get("user")
        mine = isinstance(user, dict) and str(user.get("login", "")) == author
        if mine and str(comment.get("body") or "").lstrip().startswith(tag):
            found = comment
    return found


def post_sticky_comment(
    client: GitHubClient, pr: PullRequest, key: str, body: str, *, create: bool = True
) -> CommentResult:
    """Create or update the comment for `key` with `body` (which must already carry the marker).

    With `create=False` only an existing comment is updated, so a job that comments on failure
    can still turn its old "fail" comment into "pass" without adding a new one.
    """
    try:
        existing = find_comment(client, pr, key, token_login(client))
        if existing is not None:
            data = client.request(
                "PATCH", f"/repos/{pr.repo}/issues/comments/{existing['id']}", {"body": body}
            )
            return CommentPosted("updated", int(data["id"]), str(data.get("html_url", "")))
        if not create:
            return CommentSkipped("no earlier perfgate comment to update")
        data = client.request(
            "POST", f"/repos/{pr.repo}/issues/{pr.number}/comments", {"body": body}
        )
        return CommentPosted("created", int(data["id"]), str(data.get("html_url", "")))
    except GitHubError as exc:
        return CommentSkipped(_explain(str(exc), exc.status))
    except (KeyError, ValueError, TypeError) as exc:
        return CommentSkipped(client.redact(f"unexpected response from GitHub: {exc!r}"))


def pull_request_head_sha(client: GitHubClient, pr: PullRequest) -> str:
    """The PR's current head commit; raises GitHubError when it cannot be read."""
    data = client.request("GET", f"/repos/{pr.repo}/pulls/{pr.number}")
    try:
        return str(data["head"]["sha"])
    except (KeyError, TypeError):
        raise GitHubError("the pull request response has no head.sha") from None


def _explain(message: str, status: int | None) -> str:
    if status in (401, 403):
        return (
            f"could not post the PR comment: {message}. The token is read-only (a pull request "
            "from a fork, or missing `pull-requests: write`); docs/github-action.md "
            "(pull requests from forks) shows the workflow_run comment flow"
        )
    return f"could not post the PR comment: {message}"
