"""`perfgate action` and `perfgate comment` in process, against the fake GitHub.

The action's check runner is a parameter: most tests hand it a stand-in that writes the files
`perfgate check` writes, and one drives the real `perfgate check` on the tiny test app.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from perfgate.cli.main import main
from perfgate.console import Console
from perfgate.core.check import Checked, CheckRequest, run_check
from perfgate.core.exits import gate_exit
from perfgate.errors import ExitStatus, MeasurementError
from perfgate.github.action import run_action
from perfgate.github.api import marker
from perfgate.github.inputs import ActionInputs, check_request, read_inputs
from perfgate.github.runner import RunContext, read_context
from perfgate.layout import Layout
from perfgate.results import Check, ResultsFile, VerdictName
from tests.github_fake import READ_TOKEN, WRITE_TOKEN, FakeGitHub, fake_github
from tests.runs import profile, run

Capsys = pytest.CaptureFixture[str]
REPO = "acme/shop"
BASE_SHA = "b" * 40
HEAD_SHA = "a" * 40
THRESHOLDS = """\
endpoints:
  - name: items
    path: /items
  - name: health
    path: /health
budgets:
  default:
    p95_ms: 100
  endpoints:
    items:
      p95_ms: 5
"""


@pytest.fixture
def gh() -> Iterator[FakeGitHub]:
    with fake_github() as fake:
        fake.add_pull(REPO, 7, HEAD_SHA)
        yield fake


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gh: FakeGitHub) -> Path:
    """A runner-like environment: workspace as cwd, GITHUB_* and INPUT_* variables set."""
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "thresholds.yaml").write_text(THRESHOLDS)
    event = {
        "action": "synchronize",
        "number": 7,
        "pull_request": {"number": 7, "base": {"sha": BASE_SHA}, "head": {"sha": HEAD_SHA}},
    }
    (tmp_path / "event.json").write_text(json.dumps(event))
    for name, value in {
        "GITHUB_EVENT_PATH": str(tmp_path / "event.json"),
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_API_URL": gh.url,
        "GITHUB_SERVER_URL": "https://github.example",
        "GITHUB_RUN_ID": "4242",
        "GITHUB_WORKFLOW": "perf",
        "GITHUB_JOB": "gate",
        "GITHUB_OUTPUT": str(tmp_path / "output.txt"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "INPUT_GITHUB-TOKEN": WRITE_TOKEN,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("INPUT_CONFIG", "INPUT_BASELINE", "INPUT_AGAINST", "INPUT_COMMENT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(workspace)
    return tmp_path


class FakeCheck:
    """Stands in for the core check: writes the files a check writes, with a chosen verdict,
    or fails as a check that could not measure does; records each request."""

    def __init__(self, verdict: VerdictName = "fail", status: int | None = None) -> None:
        self.verdict = verdict
        self.status = status
        self.calls: list[CheckRequest] = []

    def __call__(self, request: CheckRequest, console: Console) -> Checked:
        self.calls.append(request)
        if self.status == ExitStatus.CANNOT_MEASURE:
            raise MeasurementError("the app exited with code 3 before it was ready")
        checks = [Check(endpoint="health", phase="profile", metric="p95_ms", status="pass",
                        kind="absolute")]  # fmt: skip
        if self.verdict != "pass":
            message = "p95 9.1 ms over the 5 ms budget\n::x::y"
            checks.append(Check(endpoint="items", phase="profile", metric="p95_ms",
                                status=self.verdict, kind="absolute", message=message))  # fmt: skip
        results = ResultsFile(verdict=self.verdict, checks=checks, run=run([profile("items")]))
        layout = Layout(request.out)
        console.write_text(layout.results, results.model_dump_json())
        console.write_text(layout.report, f"## perfgate: {self.verdict.upper()}\n\ntable\n")
        return Checked(results, layout, strict=False)


def _tiny_service(folder: Path) -> None:
    """The tiny test app and a quick config for it, in `folder`: a real check in seconds."""
    shutil.copy(Path(__file__).parent / "apps" / "tiny.py", folder / "tiny.py")
    (folder / "thresholds.yaml").write_text(
        "app: {target: 'tiny:create_app()', workers: 1}\n"
        "endpoints: [{name: items, path: /items}]\n"
        "profile: {warmup: 1, samples: 6, trials: 2}\nload: {enabled: false}\n"
    )


def outputs(runner: Path) -> dict[str, str]:
    text = (runner / "output.txt").read_text()
    found = re.findall(r"^(\w+)<<(ghadelimiter_\w+)\n(.*?)\n\2$", text, re.M | re.S)
    return {name: value for name, _, value in found}


def every_output(runner: Path, captured: Capsys) -> str:
    out, err = captured.readouterr()
    files = [runner / "output.txt", runner / "summary.md"]
    return out + err + "".join(f.read_text() for f in files if f.exists())


def test_first_run_creates_the_comment_second_run_updates_it(
    runner: Path, gh: FakeGitHub, capsys: Capsys
) -> None:
    assert run_action(check=FakeCheck("fail")) == 1
    assert run_action(check=FakeCheck("pass")) == 0

    [comment] = gh.comments_on(REPO, 7)
    assert comment["body"].startswith(marker("perf:gate:thresholds.yaml"))
    assert "## perfgate: PASS" in comment["body"]
    assert "https://github.example/acme/shop/actions/runs/4242" in comment["body"]
    # Each run: who the token writes as, the comments, then create or update.
    assert [(r.method, r.path.split("?")[0].rsplit("/", 1)[-1]) for r in gh.requests] == [
        ("GET", "user"), ("GET", "comments"), ("POST", "comments"),
        ("GET", "user"), ("GET", "comments"), ("PATCH", str(comment["id"])),
    ]  # fmt: skip
    assert WRITE_TOKEN not in every_output(runner, capsys)


@pytest.mark.parametrize("verdict, expected", [("fail", 1), ("pass", 0), ("inconclusive", 0)])
def test_read_only_token_leaves_the_exit_code_unchanged(
    runner: Path,
    gh: FakeGitHub,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Capsys,
    verdict: str,
    expected: int,
) -> None:
    monkeypatch.setenv("INPUT_GITHUB-TOKEN", READ_TOKEN)
    assert run_action(check=FakeCheck(verdict)) == expected
    text = every_output(runner, capsys)
    assert "::warning::could not post the PR comment" in text
    assert "Resource not accessible by integration" in text
    assert READ_TOKEN not in text
    assert gh.comments_on(REPO, 7) == []


def test_outputs_summary_and_annotations(runner: Path, capsys: Capsys) -> None:
    run_action(check=FakeCheck("fail"))

    assert outputs(runner) == {
        "verdict": "fail",
        "report": ".perfgate/report.md",
        "results": ".perfgate/results.json",
        "failures": "1",
    }
    assert (runner / "summary.md").read_text().startswith("## perfgate: FAIL")
    out = capsys.readouterr().out
    # Line 11 is `p95_ms: 5` under budgets.endpoints.items; the message's newline is escaped
    # so it cannot start a workflow command of its own.
    assert (
        "::error file=thresholds.yaml,line=11,title=perfgate%3A fail::"
        "items profile p95_ms: p95 9.1 ms over the 5 ms budget%0A::x::y"
    ) in out
    assert "::group::perfgate check -c thresholds.yaml" in out
    assert "::endgroup::" in out


def test_inconclusive_is_a_warning_and_fails_only_when_asked(
    runner: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    assert run_action(check=FakeCheck("inconclusive")) == 0
    assert "::warning file=thresholds.yaml,line=11," in capsys.readouterr().out
    monkeypatch.setenv("INPUT_FAIL-ON", "inconclusive")
    assert run_action(check=FakeCheck("inconclusive")) == 1


@pytest.mark.parametrize(
    "verdict, strict, fail_on, expected",
    [
        ("fail", False, "fail", 1),
        ("fail", False, "inconclusive", 1),
        ("fail", True, "never", 0),
        ("inconclusive", True, "fail", 0),
        ("inconclusive", False, "inconclusive", 1),
        ("pass", True, "inconclusive", 0),
        # Without fail-on, the config's compare.strict decides (as for `perfgate check`).
        ("inconclusive", True, None, 1),
        ("inconclusive", False, None, 0),
        ("fail", False, None, 1),
        ("pass", True, None, 0),
    ],
)
def test_one_exit_policy_fail_on_wins_else_compare_strict(
    verdict: VerdictName, strict: bool, fail_on: str | None, expected: int
) -> None:
    assert gate_exit(verdict, strict=strict, fail_on=fail_on) == expected


def test_a_broken_check_fails_the_step_whatever_fail_on_says(
    runner: Path, gh: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INPUT_FAIL-ON", "never")
    assert run_action(check=FakeCheck(status=3)) == 3
    monkeypatch.setenv("INPUT_CONFIG", "missing.yaml")
    assert run_action() == 2  # the real check: a config that does not exist
    assert outputs(runner)["verdict"] == "error"


def test_could_not_measure_still_fails_and_says_so_in_the_comment(
    runner: Path, gh: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INPUT_FAIL-ON", "never")
    assert run_action(check=FakeCheck(status=3)) == 3
    assert outputs(runner)["verdict"] == "error"
    assert "could not finish" in Path(".perfgate/report.md").read_text()
    [comment] = gh.comments_on(REPO, 7)
    assert "could not finish the check (exit status 3)" in comment["body"]


def test_comment_on_failure_creates_only_on_failure_but_keeps_it_current(
    runner: Path, gh: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INPUT_COMMENT", "on-failure")
    run_action(check=FakeCheck("pass"))
    assert gh.comments_on(REPO, 7) == []
    run_action(check=FakeCheck("fail"))
    run_action(check=FakeCheck("pass"))
    [comment] = gh.comments_on(REPO, 7)
    assert "PASS" in comment["body"]


def test_comment_never_and_non_pr_events_post_nothing(
    runner: Path, gh: FakeGitHub, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    monkeypatch.setenv("INPUT_COMMENT", "never")
    run_action(check=FakeCheck("fail"))
    monkeypatch.setenv("INPUT_COMMENT", "always")
    (runner / "event.json").write_text(json.dumps({"ref": "refs/heads/main"}))
    run_action(check=FakeCheck("fail"))
    assert gh.requests == []
    assert "::notice::not a pull request event" in capsys.readouterr().out


def test_two_jobs_keep_their_own_comments(
    runner: Path, gh: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_action(check=FakeCheck("fail"))
    monkeypatch.setenv("GITHUB_JOB", "gate-worker")
    run_action(check=FakeCheck("pass"))
    monkeypatch.setenv("INPUT_COMMENT-KEY", "custom")
    run_action(check=FakeCheck("pass"))
    run_action(check=FakeCheck("fail"))
    assert len(gh.comments_on(REPO, 7)) == 3


def test_a_pull_request_is_compared_with_its_base_unless_told_otherwise(runner: Path) -> None:
    ctx = read_context({"GITHUB_EVENT_PATH": str(runner / "event.json"), "GITHUB_REPOSITORY": REPO})
    default = check_request(read_inputs({}), ctx)
    assert default == CheckRequest(Path("thresholds.yaml"), Path(".perfgate"), against=BASE_SHA)
    with_baseline = read_inputs({"INPUT_BASELINE": "base.json", "INPUT_CONFIG": "perf.yaml"})
    request = check_request(with_baseline, ctx)
    assert (request.config, request.baseline, request.against) == (
        Path("perf.yaml"), Path("base.json"), None,
    )  # fmt: skip
    assert check_request(read_inputs({"INPUT_AGAINST": "none"}), ctx).against is None
    explicit = read_inputs({"INPUT_AGAINST": "origin/main", "INPUT_BASELINE": "b.json"})
    assert check_request(explicit, ctx).against == "origin/main"


def test_setup_runs_in_the_working_directory_and_its_failure_cannot_measure(
    runner: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    service = Path("service")
    service.mkdir()
    _tiny_service(service)
    monkeypatch.setenv("INPUT_WORKING-DIRECTORY", "service")
    monkeypatch.setenv("INPUT_AGAINST", "none")
    monkeypatch.setenv("INPUT_SETUP", "echo ready > setup-ran.txt")
    monkeypatch.setenv("INPUT_COMMENT", "never")
    assert run_action() == 0
    assert (service / "setup-ran.txt").read_text().strip() == "ready"
    assert outputs(runner)["report"] == "service/.perfgate/report.md"

    # Under bash -e: the first line fails, the second never runs.
    monkeypatch.setenv("INPUT_SETUP", "false\necho reached > reached.txt")
    assert run_action() == 3
    assert not (service / "reached.txt").exists()
    err = capsys.readouterr().err
    assert "setup command failed" in err and "exit status 1" in err
    assert outputs(runner)["verdict"] == "error"
    assert "incomplete" in (service / ".perfgate" / "report.md").read_text()


def test_the_prs_code_never_sees_the_token(
    runner: Path, gh: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    _tiny_service(Path("."))
    monkeypatch.setenv("INPUT_AGAINST", "none")
    monkeypatch.setenv("INPUT_SETUP", "env > setup-env.txt")
    seen: list[str] = []

    def check(request: CheckRequest, console: Console) -> Checked:
        seen.append(repr(dict(os.environ)))  # what the app under test inherits
        return run_check(request, console)

    assert run_action(check=check) == 0
    assert "INPUT_SETUP" in Path("setup-env.txt").read_text()
    assert WRITE_TOKEN not in Path("setup-env.txt").read_text() + seen[0]
    assert len(gh.comments_on(REPO, 7)) == 1  # the comment still used it
    assert os.environ["INPUT_GITHUB-TOKEN"] == WRITE_TOKEN


def test_a_message_cannot_start_a_workflow_command_in_the_log(runner: Path, capsys: Capsys) -> None:
    run_action(check=FakeCheck("fail"))
    lines = capsys.readouterr().out.splitlines()
    # The check's message holds "\n::x::y": in the printed summary it stays inside its line.
    assert not any(line.startswith("::x::") for line in lines)
    assert any("budget ::x::y" in line for line in lines if line.startswith("  fail"))
    assert not any("%25" in line or "%0A" in line for line in lines if line.startswith("  fail"))


def test_bad_input_is_a_usage_error_in_one_line(
    runner: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    monkeypatch.setenv("INPUT_FAIL-ON", "sometimes")
    assert main(["action"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "perfgate: error: input fail-on='sometimes' (use one of fail, inconclusive, never)"
    ]


def test_token_is_not_in_the_inputs_repr() -> None:
    inputs = read_inputs({"INPUT_GITHUB-TOKEN": WRITE_TOKEN})
    assert isinstance(inputs, ActionInputs) and WRITE_TOKEN not in repr(inputs)


def test_real_check_through_main(
    runner: Path, gh: FakeGitHub, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    """`perfgate action` end to end: the real `perfgate check` measures the tiny test app."""
    shutil.copy(Path(__file__).parent / "apps" / "tiny.py", "tiny.py")
    Path("thresholds.yaml").write_text(
        THRESHOLDS.replace("endpoints:\n  - name", "app:\n  target: tiny:create_app()\n"
                           "  workers: 1\nprofile:\n  warmup: 2\n  samples: 20\n  trials: 2\n"
                           "load:\n  enabled: false\nendpoints:\n  - name", 1)
        .replace("p95_ms: 5", "p95_ms: 0.0001")
    )  # fmt: skip
    monkeypatch.setenv("INPUT_AGAINST", "none")  # same-run A/B needs a git history

    assert main(["action"]) == 1
    assert main(["action"]) == 1

    [comment] = gh.comments_on(REPO, 7)
    assert "FAIL" in comment["body"].splitlines()[1]
    assert outputs(runner)["verdict"] == "fail"
    assert json.loads(Path(".perfgate/results.json").read_text())["verdict"] == "fail"
    text = every_output(runner, capsys)
    assert "::error file=thresholds.yaml,line=" in text
    assert WRITE_TOKEN not in text


def test_context_without_event_has_no_pull() -> None:
    ctx = read_context({"GITHUB_REPOSITORY": REPO})
    assert isinstance(ctx, RunContext) and ctx.pull is None and ctx.base_sha is None


# --- perfgate comment -------------------------------------------------------------------------


@pytest.fixture
def report(tmp_path: Path) -> Path:
    path = tmp_path / "report.md"
    path.write_text("## perfgate: ❌ FAIL (1 fail)\n\nbody\n")
    return path


def comment_env(monkeypatch: pytest.MonkeyPatch, gh: FakeGitHub, token: str) -> None:
    monkeypatch.setenv("GITHUB_API_URL", gh.url)
    monkeypatch.setenv("GITHUB_REPOSITORY", REPO)
    monkeypatch.setenv("GITHUB_TOKEN", token)
    monkeypatch.delenv("GITHUB_EVENT_PATH", raising=False)


def test_comment_command_creates_then_updates(
    report: Path, gh: FakeGitHub, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    comment_env(monkeypatch, gh, WRITE_TOKEN)
    argv = ["comment", "--report", str(report), "--pr", "7", "--key", "perf"]
    assert main(argv) == 0
    report.write_text("## perfgate: ✅ PASS\n")
    assert main([*argv, "--expect-head-sha", HEAD_SHA, "--run-url", "https://x.test/run/1"]) == 0
    [comment] = gh.comments_on(REPO, 7)
    assert comment["body"].startswith(marker("perf") + "\n## perfgate: ✅ PASS")
    assert "https://x.test/run/1" in comment["body"]
    out = capsys.readouterr().out
    assert "PR comment created" in out and "PR comment updated" in out
    assert WRITE_TOKEN not in out


def test_comment_command_refuses_a_pr_that_moved_on(
    report: Path, gh: FakeGitHub, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    comment_env(monkeypatch, gh, WRITE_TOKEN)
    argv = ["comment", "--report", str(report), "--pr", "7", "--expect-head-sha", "c" * 40]
    assert main(argv) == 0
    assert gh.comments_on(REPO, 7) == []
    assert "not the measured commit" in capsys.readouterr().out


def test_comment_command_read_only_token_warns_without_leaking(
    report: Path, gh: FakeGitHub, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    comment_env(monkeypatch, gh, READ_TOKEN)
    monkeypatch.setenv("MY_TOKEN", READ_TOKEN)
    argv = ["comment", "--report", str(report), "--pr", "7", "--token-env", "MY_TOKEN"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "::warning::could not post the PR comment" in captured.out
    assert READ_TOKEN not in captured.out + captured.err


def test_comment_command_usage_errors(
    report: Path, gh: FakeGitHub, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    comment_env(monkeypatch, gh, "")
    assert main(["comment", "--report", str(report), "--pr", "7"]) == 2
    assert "no token in $GITHUB_TOKEN" in capsys.readouterr().err
    monkeypatch.setenv("GITHUB_TOKEN", WRITE_TOKEN)
    assert main(["comment", "--report", str(report) + ".missing", "--pr", "7"]) == 2
    assert gh.requests == []


def test_a_pull_request_is_measured_against_its_base_commit(
    runner: Path, gh: FakeGitHub, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    """The default flow: no baseline input, so the PR's base commit (read from the event) is
    checked out beside the workspace and both are measured side by side."""
    import subprocess

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        return done.stdout.strip()

    fast = (Path(__file__).parent / "apps" / "tiny.py").read_text()
    Path("tiny.py").write_text(fast)
    Path("thresholds.yaml").write_text(
        "app:\n  target: tiny:create_app()\n  workers: 1\n"
        "profile: {warmup: 2, samples: 60, trials: 4}\nload: {enabled: false}\n"
        "endpoints:\n  - name: items\n    path: /items\n  - name: health\n    path: /health\n"
        "budgets:\n  default: {regression: 20%}\ncompare: {ab_instances: 2}\n"
    )
    git("init", "-q", "-b", "main")
    git("add", ".")
    git("commit", "-q", "-m", "base")
    base_sha = git("rev-parse", "HEAD")
    slow = fast.replace('slow_path = os.environ.get("TINY_SLOW_PATH", "")', 'slow_path = "/items"')
    slow = slow.replace('os.environ.get("TINY_SLOW_MS", "0")', '"15"')
    assert slow != fast
    Path("tiny.py").write_text(slow)
    git("commit", "-q", "-am", "head: /items got slower")
    event = json.loads((runner / "event.json").read_text())
    event["pull_request"]["base"]["sha"] = base_sha
    (runner / "event.json").write_text(json.dumps(event))

    assert main(["action"]) == 1

    results = json.loads(Path(".perfgate/results.json").read_text())
    assert results["mode"] == "ab"
    failed = {(c["endpoint"], c["metric"]) for c in results["checks"] if c["status"] == "fail"}
    assert ("items", "median") in failed
    assert all(endpoint == "items" for endpoint, _ in failed)
    [comment] = gh.comments_on(REPO, 7)
    assert "FAIL" in comment["body"].splitlines()[1]
    assert outputs(runner)["verdict"] == "fail"
    assert git("worktree", "list").count("\n") == 0  # the base checkout was removed


def test_a_bad_input_still_writes_outputs_and_a_summary_that_says_why(
    runner: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    monkeypatch.setenv("INPUT_WORKING-DIRECTORY", "no-such-service")
    assert run_action() == 2
    assert outputs(runner) == {"verdict": "error", "report": "", "results": "", "failures": "0"}
    summary = (runner / "summary.md").read_text()
    assert "could not finish the check (exit status 2)" in summary
    assert "working-directory 'no-such-service' does not exist" in summary
    assert "::error title=perfgate%3A bad input::working-directory" in capsys.readouterr().out


def test_command_comment_posts_a_report_measured_elsewhere(
    runner: Path, gh: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fork-safe flow's second workflow: no check runs, the artifact's report is posted.
    Path("artifact").mkdir()
    Path("artifact/report.md").write_text("## perfgate: ❌ FAIL (1 fail)\n")
    for name, value in {"INPUT_COMMAND": "comment", "INPUT_REPORT": "artifact/report.md",
                        "INPUT_PR": "7", "INPUT_EXPECT-HEAD-SHA": HEAD_SHA}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    check = FakeCheck("pass")
    assert run_action(check=check) == 0 and check.calls == []
    [comment] = gh.comments_on(REPO, 7)
    assert "FAIL (1 fail)" in comment["body"]
    # The PR moved on since it was measured: nothing is posted over the newer state.
    monkeypatch.setenv("INPUT_EXPECT-HEAD-SHA", "c" * 40)
    Path("artifact/report.md").write_text("## perfgate: ✅ PASS\n")
    assert run_action() == 0
    assert "FAIL" in gh.comments_on(REPO, 7)[0]["body"]


def test_command_baseline_records_the_history(
    runner: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    _tiny_service(Path("."))
    monkeypatch.setenv("INPUT_COMMAND", "baseline")
    monkeypatch.setenv("INPUT_COMMENT", "never")
    assert run_action() == 0
    assert run_action() == 0
    history = json.loads(Path(".perfgate/baseline.json").read_text())
    assert len(history["runs"]) == 2
    assert "now holds 2 run(s)" in capsys.readouterr().out
    assert outputs(runner)["verdict"] == "pass"
