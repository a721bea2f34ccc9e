"""A token-protected JSON API measured as its users would configure it: the password in an
environment variable, a login whose token lives about a second (so the run logs in again), a
`params` endpoint, a JSON POST; then neither the password nor any token in anything written."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.apps.tokenapi import USERS
from tests.faultkit import commit, git, perfgate_env

APP = Path(__file__).resolve().parent / "apps" / "tokenapi.py"
PASSWORD = (
    "correct-horse-battery-staple"  # a name that does not look secret holds it: TOKENAPI_PASS
)

CONFIG = """\
app:
  target: "tokenapi:create_app()"
  workers: 2
  startup_timeout_s: 20
  env: {{TOKENAPI_TTL_S: "1", TOKENAPI_LOGINS_FILE: "{logins}"}}
login:
  path: /api/login
  json: {{username: demo, password: "${{TOKENAPI_PASS}}"}}
  extract: {{token: access_token}}
endpoints:
  - name: me
    path: /api/me
    headers: {{Authorization: "Bearer {{token}}"}}
  - name: user
    path: /api/users/{{id}}
    params: {{id: [1, 2, 3]}}
    headers: {{Authorization: "Bearer {{token}}"}}
  - name: search
    method: POST
    path: /api/search
    json: {{query: a}}
    headers: {{Authorization: "Bearer {{token}}"}}
  - name: add-note
    method: POST
    path: /api/notes
    json: {{text: hello}}
    headers: {{Authorization: "Bearer {{token}}"}}
    expect_status: 201
    reset: rm -f notes.json && echo reset >> resets.log
  - name: anonymous
    path: /api/me
    expect_status: 401
profile: {{warmup: 3, samples: 400, trials: 4}}
load: {{concurrency: [4], duration_s: 0.5, warmup_s: 0.1}}
compare: {{run_instances: 2}}
"""
# What each endpoint answers when perfgate logs in as it should (the rest: 200).
EXPECTED = {"add-note": "201", "anonymous": "401"}


def _perfgate(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "perfgate", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip


def _everything_written(folder: Path) -> str:
    return "".join(
        p.read_text(encoding="utf-8", errors="replace") for p in folder.rglob("*") if p.is_file()
    )


def test_a_token_api_is_measured_with_every_request_answered_and_no_secret_written(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(APP, project / "tokenapi.py")
    logins = tmp_path / "logins.txt"
    config = project / "thresholds.yaml"
    config.write_text(CONFIG.format(logins=logins))
    env = {**perfgate_env(), "TOKENAPI_PASS": PASSWORD}
    elsewhere = tmp_path / "elsewhere"  # run from another folder, as from a monorepo's root
    elsewhere.mkdir()

    done = _perfgate("check", "-c", str(config), cwd=elsewhere, env=env)

    assert done.returncode == 0, done.stderr
    # The outputs land beside the config, in a folder git is told to ignore.
    out = project / ".perfgate"
    assert (out / ".gitignore").read_text() == "*\n"
    assert list(elsewhere.iterdir()) == []
    results = json.loads((out / "results.json").read_text())
    run = results["run"]
    assert run["complete"], run["incomplete_reason"]
    for endpoint in run["endpoints"]:
        codes = {EXPECTED.get(endpoint["name"], "200")}
        assert endpoint["errors"] == {} and set(endpoint["status_codes"]) == codes, endpoint
    # The user endpoint's three ids were all requested: its mean size lies between theirs.
    sizes = [
        len(json.dumps({"id": i, "name": n}, separators=(",", ":"))) + 1 for i, n in USERS.items()
    ]
    user = next(e for e in run["endpoints"] if e["name"] == "user")
    assert min(sizes) < user["bytes_mean"] < max(sizes)
    # Each id's own figures are kept beside the endpoint's pooled ones.
    by_param = {p["value"]: p for p in user["by_param"]}
    assert sorted(by_param) == ["id=1", "id=2", "id=3"]
    assert sum(p["requests"] for p in by_param.values()) == user["requests"]
    assert all(abs(p["requests"] - user["requests"] / 3) <= 4 for p in by_param.values())
    assert all(p["median_ms"] and p["error_rate"] == 0 for p in by_param.values())
    for level in run["load"]:
        assert level["errors"] == {} and set(level["status_codes"]) == {"200", "201", "401"}
    # The write endpoint's reset ran in the app's folder before each of the 4 profile trials
    # and before the load level.
    assert (project / "resets.log").read_text().split() == ["reset"] * 5
    tokens = logins.read_text().split()
    # Two instances log in, and the load level once more: more logins than that means the
    # one-second tokens expired during the run and perfgate logged in again on the 401.
    assert len(tokens) > 3
    # ... but not on the 401s an endpoint expects (400 of them would be 400 logins).
    assert len(tokens) < 40
    written = done.stdout + done.stderr + _everything_written(out)
    assert PASSWORD not in written
    for token in tokens:
        assert token not in written
    # The app did log them (app.log is kept), and the reader sees that something was masked.
    assert "issued token ***" in (out / "app.log").read_text()


def test_a_form_login_with_a_csrf_field_keeps_the_session_cookie(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(APP.with_name("formlogin.py"), project / "formlogin.py")
    (project / "thresholds.yaml").write_text(
        'app: {target: "formlogin:create_app()", workers: 1}\n'
        "login:\n"
        "  get_first: /login\n"
        '  find: {csrf: \'name="csrf_token" value="([^"]+)"\'}\n'
        "  path: /login\n"
        '  form: {username: demo, password: "${FORMLOGIN_PASS}", csrf_token: "{csrf}"}\n'
        "endpoints:\n  - {name: dashboard, path: /dashboard}\n"
        "profile: {warmup: 2, samples: 20, trials: 2}\n"
        "load: {enabled: false}\n"
        "compare: {run_instances: 1}\n"
    )
    env = {**perfgate_env(), "FORMLOGIN_PASS": PASSWORD}
    done = _perfgate("check", cwd=project, env=env)
    assert done.returncode == 0, done.stderr
    out = project / ".perfgate"
    (dashboard,) = json.loads((out / "results.json").read_text())["run"]["endpoints"]
    # Signed in: the dashboard answers 200 itself, not a 302 to the login page.
    assert dashboard["status_codes"] == {"200": 20}
    assert PASSWORD not in done.stdout + done.stderr + _everything_written(out)


def test_a_failed_login_exits_3_naming_the_status_and_the_answer(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(APP, project / "tokenapi.py")
    (project / "thresholds.yaml").write_text(
        'app: {target: "tokenapi:create_app()", workers: 1}\n'
        'login: {path: /api/login, json: {username: demo, password: "${TOKENAPI_TRY}"}}\n'
        "endpoints:\n  - {name: me, path: /api/me}\n"
        "compare: {run_instances: 1}\n"
    )
    env = {**perfgate_env(), "TOKENAPI_PASS": PASSWORD, "TOKENAPI_TRY": "not-the-password"}
    done = _perfgate("check", cwd=project, env=env)
    assert done.returncode == 3
    assert "Traceback" not in done.stderr
    assert "login failed: POST /api/login answered 403" in done.stderr
    assert "bad credentials" in done.stderr
    written = done.stdout + done.stderr + _everything_written(project / ".perfgate")
    assert "not-the-password" not in written  # the app logged it; perfgate masked it
    assert "password=***" in (project / ".perfgate" / "app.log").read_text()


def test_check_against_a_commit_logs_in_on_both_sides(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    logins = tmp_path / "logins.txt"
    config = (
        CONFIG.format(logins=logins)
        .replace("compare: {run_instances: 2}", "compare: {ab_instances: 1}")
        .replace(
            "load: {concurrency: [4], duration_s: 0.5,",
            "load: {concurrency: [4], duration_s: 0.6, trials: 2,",
        )
    )
    files = {"tokenapi.py": APP.read_text(), "thresholds.yaml": config}
    commit(repo, files, "base")
    commit(repo, {"README": "a change that is not code\n"}, "head")
    env = {**perfgate_env(), "TOKENAPI_PASS": PASSWORD, "TMPDIR": str(tmp_path)}

    done = _perfgate("check", "--against", "HEAD~1", "--seed", "3", cwd=repo, env=env)

    assert done.returncode in (0, 1), done.stderr
    results = json.loads((repo / ".perfgate" / "results.json").read_text())
    for run in (results["base_run"], results["run"]):
        assert run["complete"], run["incomplete_reason"]
        for endpoint in run["endpoints"]:
            codes = {EXPECTED.get(endpoint["name"], "200")}
            assert set(endpoint["status_codes"]) == codes, endpoint
        for level in run["load"]:
            assert level["errors"] == {}, level
    written = done.stdout + done.stderr + _everything_written(repo / ".perfgate")
    assert PASSWORD not in written
    assert not [t for t in logins.read_text().split() if t in written]
    # perfgate's own folder is ignored by git (the reset's files are the app's, not ours).
    assert ".perfgate" not in git(repo, "status", "--porcelain")
