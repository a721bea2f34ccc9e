"""thresholds.yaml's request keys (`${VAR}`, `login`, `json`, `form`, `params`), budgets.load
and the refusal of ambiguous bare percentages, read from real files; and what the endpoints
become as concrete requests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from perfgate.config import (
    AppConfig,
    Budgets,
    CompareConfig,
    LoadBudget,
    LoadConfig,
    ProfileConfig,
    load_config,
)
from perfgate.judge.gate import judge
from perfgate.layout import Layout
from perfgate.redact import MASK, Redactor
from perfgate.results import BaselineFile
from tests import runs
from tests.conftest import REPO_ROOT
from tests.faultkit import perfgate_env
from tests.test_config import error_for, write

APP = 'app:\n  target: "tiny:create_app()"\n'


@pytest.mark.parametrize(
    ("budget", "fragment"),
    [
        (
            "default: {error_rate: 1}",
            "budgets.default.error_rate = 1: a bare 1 could mean 1% or 100%",
        ),
        ("default: {regression: 1}", "write '1%' or '100%'"),
        ("endpoints: {health: {regression: 2}}", "a bare 2 could mean 2% or 200%"),
        ("load: {regression: 1.5}", "budgets.load.regression = 1.5"),
    ],
)
def test_a_bare_number_that_could_be_a_percent_or_a_fraction_is_refused(
    tmp_path: Path, budget: str, fragment: str
) -> None:
    text = APP + "endpoints:\n  - {name: health, path: /health}\nbudgets:\n  " + budget + "\n"
    assert fragment in error_for(tmp_path, text)


def test_percent_strings_and_fractions_below_one_still_read(tmp_path: Path) -> None:
    text = APP + "endpoints:\n  - {name: health, path: /health}\n"
    text += "budgets:\n  default: {regression: 0.1, error_rate: 1%}\n"
    budget = load_config(write(tmp_path, text)).budgets.default
    assert budget.regression == pytest.approx(0.1) and budget.error_rate == pytest.approx(0.01)


def test_load_budgets_stack_over_the_default_per_level(tmp_path: Path) -> None:
    text = APP + "endpoints:\n  - {name: health, path: /health}\n"
    text += "load: {concurrency: [10, 50]}\n"
    text += "budgets:\n  default: {regression: 10%, error_rate: 1%}\n"
    text += "  load: {regression: 35%, levels: {50: {regression: 40%, min_rps: 200}}}\n"
    budgets = load_config(write(tmp_path, text)).budgets
    ten, fifty = budgets.for_level(10), budgets.for_level(50)
    assert ten.regression == pytest.approx(0.35) and ten.min_rps is None
    assert fifty.regression == pytest.approx(0.40) and fifty.min_rps == 200
    assert fifty.error_rate == pytest.approx(0.01)  # from budgets.default
    assert budgets.for_endpoint("health").regression == pytest.approx(0.10)
    wrong = text.replace("levels: {50:", "levels: {20:")
    assert "budgets.load.levels names level(s) 20" in error_for(tmp_path, wrong)


def test_environment_variables_fill_requests_and_are_masked_unless_public(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_USER", "alice-the-user")
    monkeypatch.setenv("SHOP_PASS", "s3cr3t-pass")
    monkeypatch.delenv("SHOP_REGION", raising=False)
    text = APP + (
        "public: [SHOP_USER]\n"
        "login:\n  path: /login\n"
        '  json: {user: "${SHOP_USER}", password: "${SHOP_PASS}"}\n'
        "  extract: {token: data.token}\n"
        "endpoints:\n"
        "  - name: orders\n"
        '    path: "/api/${SHOP_REGION:-eu}/orders"\n'
        '    headers: {Authorization: "Bearer {token}", X-Literal: "$${NOT_FILLED}"}\n'
    )
    config = load_config(write(tmp_path, text))
    assert config.login is not None and config.login.json_body == {
        "user": "alice-the-user",
        "password": "s3cr3t-pass",
    }
    orders = config.endpoints[0]
    assert orders.path == "/api/eu/orders" and orders.headers["X-Literal"] == "${NOT_FILLED}"
    redact = Redactor.for_app(config.app, {}, config.secrets)
    assert redact("s3cr3t-pass alice-the-user") == f"{MASK} alice-the-user"


def test_a_missing_variable_names_the_file_the_key_and_what_to_do(tmp_path: Path) -> None:
    text = APP + (
        "endpoints:\n  - name: orders\n    path: /orders\n"
        '    headers: {X-Api-Key: "${PERFGATE_TEST_UNSET_KEY}"}\n'
    )
    message = error_for(tmp_path, text)
    assert "endpoints[orders].headers.X-Api-Key: ${PERFGATE_TEST_UNSET_KEY} is not set" in message
    assert "thresholds.yaml" in message and "export PERFGATE_TEST_UNSET_KEY" in message


def test_the_cli_refuses_a_missing_variable_with_exit_2_and_no_traceback(tmp_path: Path) -> None:
    text = APP + 'endpoints:\n  - {name: orders, path: "/o/${PERFGATE_TEST_UNSET}"}\n'
    config = write(tmp_path, text)
    done = subprocess.run(
        [sys.executable, "-m", "perfgate", "check", "-c", str(config)],
        capture_output=True, text=True, env=perfgate_env(), cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "${PERFGATE_TEST_UNSET} is not set" in done.stderr


@pytest.mark.parametrize(
    ("endpoint", "fragment"),
    [
        ('{name: a, path: "/u/{uid}"}', "endpoint 'a' uses {uid}"),
        ('{name: a, path: "/u/{id}", params: {id: [1, 2], x: [1]}}', "same length"),
        ('{name: a, path: /u, body: "x", json: {a: 1}}', "give one of body, json or form"),
        ('{name: a, path: "/u/{token}", params: {token: [1]}}', "also named by login"),
    ],
)
def test_placeholders_and_bodies_are_checked(tmp_path: Path, endpoint: str, fragment: str) -> None:
    text = APP + "login: {path: /login, extract: {token: t}}\nendpoints:\n  - " + endpoint + "\n"
    assert fragment in error_for(tmp_path, text)


def test_endpoints_expand_into_one_request_per_parameter_with_bodies_encoded(
    tmp_path: Path,
) -> None:
    text = APP + (
        "endpoints:\n"
        '  - {name: user, path: "/users/{id}", params: {id: [1, "a b"]}, '
        'headers: {X-Id: "{id}"}}\n'
        '  - {name: create, method: post, path: /notes, json: {text: "hi {id}", n: 2}, '
        "params: {id: [7]}}\n"
        "  - {name: sign-in, method: POST, path: /form, form: {user: ann, code: 5}}\n"
        "  - {name: raw, method: POST, path: /raw, body: '{\"a\": {b}}'}\n"
    )
    user, create, form, raw = load_config(write(tmp_path, text)).endpoints
    requests = user.expand()
    assert [r.path for r in requests] == ["/users/1", "/users/a%20b"]
    assert [r.headers["X-Id"] for r in requests] == ["1", "a b"]
    (created,) = create.expand({"token": "t"}, {"session": "c1"})
    assert json.loads(created.body or "") == {"text": "hi 7", "n": 2}
    assert created.headers["Content-Type"] == "application/json"
    assert created.headers["Cookie"] == "session=c1"
    (posted,) = form.expand()
    assert posted.body == "user=ann&code=5"
    assert posted.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert raw.expand({"token": "t"})[0].body == '{"a": {b}}'  # unknown braces left alone


def test_a_run_clears_the_log_folders_an_earlier_run_left_but_not_others(tmp_path: Path) -> None:
    out = tmp_path / "out"
    for folder in ("instance-3", "base-2", "confirm", "confirm/instance-2", "base"):
        (out / folder).mkdir(parents=True, exist_ok=True)
        (out / folder / "app.log").write_text("old")
    (out / "base" / "notes.txt").write_text("the user's own")  # not only logs: kept
    (out / "envs" / "head").mkdir(parents=True)
    Layout(out).prepare()
    left = sorted(p.name for p in out.iterdir())
    assert left == ["base", "envs"]
    Layout(out).prepare()  # an existing folder gets no .gitignore; a new .perfgate does
    assert not (out / ".gitignore").exists()
    Layout(tmp_path / "project" / ".perfgate" / "confirm").prepare()
    assert (tmp_path / "project" / ".perfgate" / ".gitignore").read_text() == "*\n"


def test_the_references_complete_example_reads_and_shows_the_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (REPO_ROOT / "docs" / "configuration.md").read_text()
    section = text[text.index("## A complete example") :]
    example = section[section.index("```yaml") + len("```yaml") : section.index("```\n", 10)]
    monkeypatch.setenv("SHOP_PASSWORD", "example-password")
    config = load_config(write(tmp_path, example))
    # Every value shown without an "e.g." is the default, so the example can be read as such.
    assert config.profile == ProfileConfig()
    assert config.load == LoadConfig()
    assert config.compare == CompareConfig()
    assert config.budgets.default == Budgets().default
    assert config.budgets.load == LoadBudget() and config.public == []
    shown = config.app.model_dump(exclude={"target"})
    assert shown == AppConfig(target="x:app").model_dump(exclude={"target"})
    assert config.login is not None and config.login.cookies and config.login.method == "POST"


def test_load_levels_are_judged_with_budgets_load_not_the_endpoint_default(
    tmp_path: Path,
) -> None:
    text = APP + "endpoints:\n  - {name: a, path: /a}\nload: {concurrency: [10, 50]}\n"
    text += "budgets:\n  default: {regression: 10%, error_rate: 1%}\n"
    text += "  load: {regression: 35%, levels: {50: {min_rps: 200}}}\n"
    config = load_config(write(tmp_path, text))
    before = runs.run([runs.profile("a", 5.0)], [runs.level(10, 100.0), runs.level(50, 300.0)])
    now = runs.run([runs.profile("a", 5.0)], [runs.level(10, 80.0), runs.level(50, 150.0)])

    checks = judge(config, now, BaselineFile(runs=[before])).checks

    relative = {c.endpoint: c for c in checks if c.phase == "load" and c.kind == "relative"}
    assert relative["all @ c=10"].limit == pytest.approx(0.35)
    assert relative["all @ c=50"].limit == pytest.approx(0.35)
    (minimum,) = [c for c in checks if c.metric == "rps" and c.kind == "absolute"]
    assert minimum.endpoint == "all @ c=50" and minimum.status == "fail"
    (profiled,) = [c for c in checks if c.endpoint == "a" and c.metric == "median"]
    assert profiled.limit == pytest.approx(0.10)
