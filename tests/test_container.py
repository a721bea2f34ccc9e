"""The Action as GitHub's runner runs it: the image built from this repository, in a real Docker
engine, on a workspace owned by the runner's user (uid 1001), against the fake GitHub on
127.0.0.1 (host network), followed by the next steps of the fork-safe flow run as uid 1001.

Skipped, with the reason, where no Docker engine answers (CI starts one where it can).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faultkit import commit
from tests.github_fake import HUMAN, WRITE_TOKEN, FakeGitHub, fake_github

REPO = Path(__file__).resolve().parents[1]
IMAGE = "perfgate:container-test"
RUNNER_UID = 1001
SECRETS = {"INPUT_GITHUB-TOKEN": WRITE_TOKEN, "ACTIONS_RUNTIME_TOKEN": "rt-secret-4712",
           "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "id-secret-0815"}  # fmt: skip
SLUG = "acme/shop"
# Whatever the PR's code can see, written where the test can read it: its environment, PID 1's
# and its parent's environment, and whether PID 1's memory opens.
SPY = r"""
import os
def _peek(path):
    try:
        with open(path, "rb") as f:
            return f.read(1 << 16).replace(b"\0", b"\n").decode(errors="replace")
    except OSError as exc:
        return f"{path}: {type(exc).__name__}"
seen = [repr(dict(os.environ)), _peek("/proc/1/environ"), _peek(f"/proc/{os.getppid()}/environ")]
try:
    open("/proc/1/mem", "rb").close()
    seen.append("mem: opened")
except OSError:
    seen.append("mem: denied")
with open(f"app-seen-{os.getpid()}.txt", "w") as out:
    out.write("\n".join(seen))
"""
APP = SPY + (Path(__file__).parent / "apps" / "sides" / "installed_app.py").read_text()
SETUP = ("for f in /proc/1/environ /proc/$PPID/environ; do tr '\\0' '\\n' < $f 2>&1"
         " || echo \"$f: denied\"; done > setup-seen.txt; env >> setup-seen.txt")  # fmt: skip
CONFIG = f"""\
app:
  target: shop:app
  workers: 1
  isolate: false
  setup: |
    {SETUP}
endpoints:
  - {{name: items, path: /items}}
profile: {{warmup: 2, samples: 24, trials: 4, instructions: 15}}
load: {{enabled: false}}
compare: {{ab_instances: 1, run_instances: 1}}
"""


def _docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0


pytestmark = pytest.mark.skipif(
    not _docker_answers(), reason="no Docker engine answers here: the container test needs one"
)


@pytest.fixture(scope="module")
def image() -> str:
    done = subprocess.run(["docker", "build", "--network", "host", "-q", "-t", IMAGE, str(REPO)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return IMAGE


@pytest.fixture
def gh() -> Iterator[FakeGitHub]:
    with fake_github() as fake:
        fake.add_pull(SLUG, 7, "a" * 40)
        yield fake


def _as_runner(*paths: Path) -> None:
    for path in paths:
        for root, dirs, files in os.walk(path):
            for name in [".", *dirs, *files]:
                os.chown(Path(root, name), RUNNER_UID, RUNNER_UID, follow_symlinks=False)


@pytest.fixture
def runner(tmp_path: Path) -> Path:
    """The runner's folders: a workspace (a PR of two commits), the file commands, HOME."""
    ws = tmp_path / "workspace"
    commit(ws, {"thresholds.yaml": CONFIG, "shop.py": APP}, "base")
    commit(ws, {"shop.py": APP.replace("ITEMS_MS = 0.0", "ITEMS_MS = 3.0")}, "slower items")
    for folder in ("commands", "home", "next-step"):
        (tmp_path / folder).mkdir()
    event = {"number": 7, "pull_request": {"number": 7, "base": {"sha": "HEAD~1"},
                                           "head": {"sha": "a" * 40}}}  # fmt: skip
    (tmp_path / "commands" / "event.json").write_text(json.dumps(event))
    _as_runner(tmp_path)
    return tmp_path


def _run(
    image: str, runner: Path, gh: FakeGitHub, entry: str = "", **inputs: str
) -> tuple[int, str]:
    """`docker run` as the runner does for a container action: workspace, file commands, HOME,
    hyphenated INPUT_* names, the event; host network so the fake GitHub answers. With `entry`,
    a shell runs those commands instead of the action (later steps of other workflows)."""
    for name in ("output.txt", "summary.md"):
        (runner / "commands" / name).write_text("")
        os.chown(runner / "commands" / name, RUNNER_UID, RUNNER_UID)
    env = {
        "HOME": "/github/home", "GITHUB_WORKSPACE": "/github/workspace",
        "GITHUB_OUTPUT": "/github/file_commands/output.txt",
        "GITHUB_STEP_SUMMARY": "/github/file_commands/summary.md",
        "GITHUB_EVENT_PATH": "/github/file_commands/event.json",
        "GITHUB_EVENT_NAME": "pull_request", "GITHUB_REPOSITORY": SLUG,
        "GITHUB_API_URL": gh.url, "GITHUB_SERVER_URL": "https://github.example",
        "GITHUB_RUN_ID": "99", "GITHUB_WORKFLOW": "perf", "GITHUB_JOB": "gate",
        # What the comment workflow hands `perfgate comment`; never given to the PR's check.
        **({"GITHUB_TOKEN": WRITE_TOKEN} if entry else {}),
        **SECRETS, **{f"INPUT_{k.upper().replace('_', '-')}": v for k, v in inputs.items()},
    }  # fmt: skip
    argv = ["docker", "run", "--rm", "--network", "host", "--workdir", "/github/workspace",
            "-v", f"{runner / 'workspace'}:/github/workspace",
            "-v", f"{runner / 'commands'}:/github/file_commands",
            "-v", f"{runner / 'home'}:/github/home", "-v", f"{runner / 'next-step'}:/r",
            *[a for name, value in env.items() for a in ("-e", f"{name}={value}")],
            *(["--entrypoint", "sh", image, "-c", entry] if entry else [image, "action"]),
            ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    return done.returncode, done.stdout + done.stderr


def _outputs(runner: Path) -> dict[str, str]:
    text = (runner / "commands" / "output.txt").read_text()
    found = re.findall(r"^(\w+)<<(ghadelimiter_\w+)\n(.*?)\n\2$", text, re.M | re.S)
    return {name: value for name, _, value in found}


def _as_uid_1001(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", command], cwd=cwd, user=RUNNER_UID, group=RUNNER_UID,
                          extra_groups=[], capture_output=True, text=True, check=False)  # fmt: skip


def test_the_pr_and_baseline_flows_in_containers(image: str, runner: Path, gh: FakeGitHub) -> None:
    """Two containers (each start costs this engine most of a minute): the PR's check as the
    runner runs the action, then the fork-safe comment step and the baseline flow with the
    same image."""
    planted = gh.add_comment(SLUG, 7, "<!-- perfgate:perf:gate:thresholds.yaml -->\nmine", HUMAN)
    status, log = _run(image, runner, gh, against="HEAD~1")
    assert status == 1, log  # items got 3 ms slower: the gate fails
    ws = runner / "workspace"
    outputs = _outputs(runner)
    assert outputs["verdict"] == "fail" and outputs["report"] == ".perfgate/report.md", outputs
    assert outputs["results"] == ".perfgate/results.json" and int(outputs["failures"]) >= 1
    # The image's Valgrind counted instructions on both sides, inside the container.
    results = json.loads((ws / ".perfgate" / "results.json").read_text())
    for run in (results["run"], results["base_run"]):
        assert run["instructions_note"] is None, run["instructions_note"]
        assert run["endpoints"][0]["instructions"]["per_request"], run["endpoints"][0]

    # No PR code (setup, both apps) could read a token, anywhere it could look.
    seen = [(ws / "setup-seen.txt").read_text(), *(p.read_text() for p in ws.glob("app-seen-*"))]
    assert len(seen) >= 2 and all("mem: denied" in s for s in seen[1:])
    assert "/proc/1/environ: denied" in seen[0]  # PID 1 is not dumpable: not even root reads it
    for secret in SECRETS.values():
        assert not any(secret in text for text in seen), secret
    assert "PERFGATE_SIDE=head" in seen[0] and WRITE_TOKEN not in log

    # One comment of perfgate's own; the human's comment that starts with the marker is intact.
    ours = [c for c in gh.comments_on(SLUG, 7) if c["id"] != planted]
    assert len(ours) == 1 and ours[0]["user"]["login"] == "github-actions[bot]"
    assert gh.comments[planted]["body"].endswith("mine")

    # The next step runs as the runner's user: it reads and copies the report, then cleans up.
    copied = _as_uid_1001("cp .perfgate/report.md ../next-step/ && rm -rf .perfgate", ws)
    assert copied.returncode == 0, copied.stderr
    assert "FAIL" in (runner / "next-step" / "report.md").read_text()

    # The comment workflow posts that report with the same image (it edits the one comment);
    # the baseline workflow records a history, and a check against it reads it.
    # (Instructions were counted in the first container; these two runs skip that phase.)
    steps = " && ".join([
        "perfgate comment --report /r/report.md --pr 7 --key perf:gate:thresholds.yaml",
        "export PERFGATE_INSTRUCTIONS=0",
        "perfgate baseline --force",
        "INPUT_BASELINE=.perfgate/baseline.json INPUT_COMMENT=never perfgate action",
    ])  # fmt: skip
    status, log = _run(image, runner, gh, entry=steps)
    assert status in (0, 1), log
    ours = [c for c in gh.comments_on(SLUG, 7) if c["id"] != planted]
    assert len(ours) == 1 and "FAIL" in ours[0]["body"] and "updated" in log
    results = json.loads((ws / ".perfgate" / "results.json").read_text())
    assert results["mode"] == "baseline" and results["baseline_runs"] == 1
    assert _outputs(runner)["verdict"] in ("pass", "inconclusive", "fail")
    assert _as_uid_1001("rm -rf .perfgate", ws).returncode == 0
