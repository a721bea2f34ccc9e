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
from tests.faultkit import perfgate_env

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
profile: {{warmup: 3, samples: 400, trials: 4}}
load: {{concurrency: [4], duration_s: 0.5, warmup_s: 0.1}}
compare: {{run_instances: 2}}
"""


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
        assert endpoint["errors"] == {}, endpoint
        assert set(endpoint["status_codes"]) == {"200"}, endpoint
    # The user endpoint's three ids were all requested: its mean size lies between theirs.
    sizes = [
        len(json.dumps({"id": i, "name": n}, separators=(",", ":"))) + 1 for i, n in USERS.items()
    ]
    user = next(e for e in run["endpoints"] if e["name"] == "user")
    assert min(sizes) < user["bytes_mean"] < max(sizes)
    for level in run["load"]:
        assert level["errors"] == {} and set(level["status_codes"]) == {"200"}, level
    tokens = logins.read_text().split()
    # Two instances log in, and the load level once more: more logins than that means the
    # one-second tokens expired during the run and perfgate logged in again on the 401.
    assert len(tokens) > 3
    written = done.stdout + done.stderr + _everything_written(out)
    assert PASSWORD not in written
    for token in tokens:
        assert token not in written
    # The app did log them (app.log is kept), and the reader sees that something was masked.
    assert "issued token ***" in (out / "app.log").read_text()
