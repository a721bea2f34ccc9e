"""The sticky comment against a fake GitHub that answers as the REST docs say."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from perfgate import __version__
from perfgate.github.api import (
    CommentPosted,
    CommentSkipped,
    GitHubClient,
    GitHubError,
    PullRequest,
    find_comment,
    marker,
    post_sticky_comment,
    pull_request_head_sha,
)
from perfgate.github.fit import comment_body
from tests.github_fake import BOT, HUMAN, READ_TOKEN, WRITE_TOKEN, FakeGitHub, fake_github

REPO = "acme/shop"
PR = PullRequest(REPO, 7)


@pytest.fixture
def gh() -> Iterator[FakeGitHub]:
    with fake_github() as fake:
        fake.add_pull(REPO, 7)
        yield fake


class Sleeper:
    """Records requested waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def client(gh: FakeGitHub, token: str = WRITE_TOKEN, **kwargs: object) -> GitHubClient:
    sleeper = kwargs.pop("sleep", Sleeper())
    return GitHubClient(token, gh.url, sleep=sleeper, **kwargs)  # type: ignore[arg-type]


def body(key: str, text: str) -> str:
    return comment_body(marker(key), text, None)


def test_first_run_creates_second_run_updates_the_same_comment(gh: FakeGitHub) -> None:
    first = post_sticky_comment(client(gh), PR, "perf", body("perf", "## ❌ fail"))
    second = post_sticky_comment(client(gh), PR, "perf", body("perf", "## ✅ pass"))

    assert isinstance(first, CommentPosted) and first.action == "created"
    assert isinstance(second, CommentPosted) and second.action == "updated"
    assert second.comment_id == first.comment_id
    [only] = gh.comments_on(REPO, 7)
    assert "✅ pass" in only["body"] and "fail" not in only["body"]


def test_requests_carry_the_documented_headers(gh: FakeGitHub) -> None:
    post_sticky_comment(client(gh), PR, "perf", body("perf", "report"))
    for request in gh.requests:
        assert request.headers["accept"] == "application/vnd.github+json"
        assert request.headers["x-github-api-version"] == "2022-11-28"
        assert request.headers["user-agent"] == f"perfgate/{__version__}"
        assert request.headers["authorization"] == f"Bearer {WRITE_TOKEN}"
    assert [r.method for r in gh.requests] == ["GET", "GET", "POST"]
    assert gh.requests[0].path == "/user" and "per_page=100" in gh.requests[1].path


def test_a_comment_someone_else_starts_with_the_marker_is_never_touched(gh: FakeGitHub) -> None:
    planted = gh.add_comment(REPO, 7, body("perf", "## ✅ pass (not perfgate's)"), HUMAN)
    first = post_sticky_comment(client(gh), PR, "perf", body("perf", "## ❌ fail"))
    second = post_sticky_comment(client(gh), PR, "perf", body("perf", "## ❌ still failing"))
    assert isinstance(first, CommentPosted) and first.action == "created"
    assert isinstance(second, CommentPosted) and second.action == "updated"
    assert second.comment_id == first.comment_id != planted
    comments = {c["id"]: c for c in gh.comments_on(REPO, 7)}
    assert "not perfgate's" in comments[planted]["body"]
    assert comments[first.comment_id]["user"]["login"] == "github-actions[bot]"
    assert all(not r.path.endswith(f"/comments/{planted}") for r in gh.requests)


def test_marker_keys_keep_two_jobs_apart(gh: FakeGitHub) -> None:
    api = client(gh)
    post_sticky_comment(api, PR, "perf.yml:api:thresholds.yaml", body("perf.yml:api:x", "api"))
    a = post_sticky_comment(api, PR, "api", body("api", "api report"))
    b = post_sticky_comment(api, PR, "worker", body("worker", "worker report"))
    a2 = post_sticky_comment(api, PR, "api", body("api", "api report 2"))

    assert isinstance(a, CommentPosted) and isinstance(b, CommentPosted)
    assert isinstance(a2, CommentPosted) and a2.comment_id == a.comment_id != b.comment_id
    bodies = sorted(c["body"] for c in gh.comments_on(REPO, 7))
    assert len(bodies) == 3
    assert any("worker report" in x for x in bodies)


def test_pagination_reaches_a_comment_on_page_three(gh: FakeGitHub) -> None:
    for i in range(230):
        gh.add_comment(REPO, 7, f"chatter {i}")
    ours = gh.add_comment(REPO, 7, body("perf", "old report"), BOT)
    gh.add_comment(REPO, 7, "more chatter")

    result = post_sticky_comment(client(gh), PR, "perf", body("perf", "new report"))

    assert result == CommentPosted("updated", ours, result.url)  # type: ignore[union-attr]
    pages = [r.path for r in gh.requests if r.method == "GET" and "/comments" in r.path]
    assert len(pages) == 3 and "page=3" in pages[-1]


def test_marker_quoted_mid_comment_does_not_hijack(gh: FakeGitHub) -> None:
    gh.add_comment(REPO, 7, f"look at this: {marker('perf')}", BOT)
    assert find_comment(client(gh), PR, "perf", "github-actions[bot]") is None


def test_marker_cannot_close_the_html_comment_early() -> None:
    tag = marker("a-->b <x>")
    assert tag == "<!-- perfgate:a-__b_x_ -->"
    assert "--" not in tag[4:-3] and ">" not in tag[:-1]
    assert marker("") == "<!-- perfgate:default -->"


def test_read_only_token_is_a_warning_not_an_exception(gh: FakeGitHub) -> None:
    result = post_sticky_comment(client(gh, READ_TOKEN), PR, "perf", body("perf", "r"))
    assert isinstance(result, CommentSkipped)
    assert "403" in result.reason and "Resource not accessible by integration" in result.reason
    assert "workflow_run" in result.reason
    assert READ_TOKEN not in result.reason


def test_unknown_pull_request_is_a_warning(gh: FakeGitHub) -> None:
    result = post_sticky_comment(client(gh), PullRequest(REPO, 999), "perf", "x")
    assert isinstance(result, CommentSkipped) and "404" in result.reason


def test_network_error_is_a_warning() -> None:
    api = GitHubClient(WRITE_TOKEN, "http://127.0.0.1:9", sleep=Sleeper(), timeout=2)
    result = post_sticky_comment(api, PR, "perf", "x")
    assert isinstance(result, CommentSkipped)
    assert WRITE_TOKEN not in result.reason


def test_server_error_then_success_is_retried(gh: FakeGitHub) -> None:
    gh.fail_next(500, method="GET")
    gh.fail_next(502, method="POST")
    sleeper = Sleeper()
    result = post_sticky_comment(client(gh, sleep=sleeper), PR, "perf", "x")
    assert isinstance(result, CommentPosted) and result.action == "created"
    assert sleeper.waits == [1.0, 1.0]


def test_429_waits_as_long_as_retry_after_says(gh: FakeGitHub) -> None:
    gh.fail_next(429, {"retry-after": "7"}, "You have exceeded a secondary rate limit")
    sleeper = Sleeper()
    result = post_sticky_comment(client(gh, sleep=sleeper), PR, "perf", "x")
    assert isinstance(result, CommentPosted)
    assert sleeper.waits == [7.0]


def test_primary_rate_limit_waits_until_reset(gh: FakeGitHub) -> None:
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1012"}
    gh.fail_next(403, headers, "API rate limit exceeded")
    sleeper = Sleeper()
    api = client(gh, sleep=sleeper, clock=lambda: 1000.0)
    assert isinstance(post_sticky_comment(api, PR, "perf", "x"), CommentPosted)
    assert sleeper.waits == [12.0]


def test_a_reset_beyond_max_wait_gives_up_without_sleeping(gh: FakeGitHub) -> None:
    gh.fail_next(403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "4600"})
    sleeper = Sleeper()
    api = client(gh, sleep=sleeper, clock=lambda: 1000.0, max_wait=30.0)
    result = post_sticky_comment(api, PR, "perf", "x")
    assert isinstance(result, CommentSkipped) and "gave up" in result.reason
    assert sleeper.waits == []


def test_retries_are_bounded(gh: FakeGitHub) -> None:
    gh.fail_next(500, times=10)
    sleeper = Sleeper()
    result = post_sticky_comment(client(gh, sleep=sleeper, max_attempts=3), PR, "perf", "x")
    assert isinstance(result, CommentSkipped) and "500" in result.reason
    assert len(gh.requests) == 3 and sleeper.waits == [1.0, 2.0]


def test_post_is_not_resent_after_a_lost_connection() -> None:
    attempts: list[str] = []

    class Dropping:
        def request(self, method: str, url: str, **kwargs: object) -> None:
            import requests

            attempts.append(method)
            raise requests.ConnectionError(f"connection reset; Bearer {WRITE_TOKEN}")

    api = GitHubClient(WRITE_TOKEN, "http://127.0.0.1:1", session=Dropping(), sleep=Sleeper())  # type: ignore[arg-type]
    with pytest.raises(GitHubError) as caught:
        api.request("POST", "/repos/acme/shop/issues/7/comments", {"body": "x"})
    assert attempts == ["POST"]
    assert WRITE_TOKEN not in str(caught.value) and "***" in str(caught.value)


def test_huge_report_is_trimmed_so_422_is_never_hit(gh: FakeGitHub) -> None:
    report = "## ❌ perfgate: fail\n\n" + "\n".join(f"| /e{i} | slow |" for i in range(20000))
    result = post_sticky_comment(client(gh), PR, "perf", body("perf", report))
    assert isinstance(result, CommentPosted)
    [posted] = gh.comments_on(REPO, 7)
    assert posted["body"].startswith(marker("perf") + "\n## ❌ perfgate: fail")
    assert not [r for r in gh.requests if r.method == "POST" and len(r.body["body"]) > 65536]


def test_fake_rejects_an_oversized_body_with_422(gh: FakeGitHub) -> None:
    result = post_sticky_comment(client(gh), PR, "perf", marker("perf") + "x" * 70000)
    assert isinstance(result, CommentSkipped) and "422" in result.reason


def test_link_to_another_host_does_not_get_the_token() -> None:
    sent: list[str] = []

    class Page:
        ok = True
        links = {"next": {"url": "https://evil.test/steal?page=2"}}

        def json(self) -> list[object]:
            return []

    class Session:
        def request(self, method: str, url: str, **kwargs: object) -> Page:
            sent.append(url)
            return Page()

    api = GitHubClient(WRITE_TOKEN, "https://api.github.com", session=Session(), sleep=Sleeper())  # type: ignore[arg-type]
    with pytest.raises(GitHubError, match="off the API host"):
        list(api.paginate("/repos/acme/shop/issues/7/comments"))
    assert sent == ["https://api.github.com/repos/acme/shop/issues/7/comments"]


def test_pull_request_head_sha(gh: FakeGitHub) -> None:
    gh.add_pull(REPO, 8, "b" * 40)
    assert pull_request_head_sha(client(gh), PullRequest(REPO, 8)) == "b" * 40


def test_token_never_in_repr_or_errors(gh: FakeGitHub) -> None:
    api = client(gh, READ_TOKEN)
    assert READ_TOKEN not in repr(api)
    with pytest.raises(GitHubError) as caught:
        api.request("POST", f"/repos/{REPO}/issues/7/comments", {"body": "x"})
    assert READ_TOKEN not in str(caught.value)
