"""Several instances of the app per run: each has its own hash seed, and trials rotate over them."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from perfgate.config import AppConfig, Config, load_config
from perfgate.console import Console
from perfgate.core.check import measure_ab, measure_stored
from perfgate.layout import Layout
from perfgate.measure.session import Side
from perfgate.results import EndpointProfile, RunResult
from perfgate.run.inapp.reference import IN_APP_PATH, OWN_APP_PATH
from perfgate.run.server import nth_instance

# /items busy-waits 3 ms, twice that at an even hash seed: instance 1 (seed 1) answers in ~3 ms,
# instance 2 (seed 2) in ~6.
BY_SEED = {"TINY_SLOW_PATH": "/items", "TINY_SLOW_MS": "3", "TINY_SLOW_BY_SEED": "1"}


def _measured(config: Config, out: Path) -> RunResult:
    """A stored-mode run, as `perfgate check` measures it (no baseline, so no confirmation)."""
    return measure_stored(config, None, Layout(out), Console())[0]


def with_instances(path: Path, **compare: object) -> Config:
    config = load_config(path)
    profile = config.profile.model_copy(update={"samples": 40, "trials": 4, "warmup": 2})
    return config.model_copy(
        update={
            "profile": profile,
            "load": config.load.model_copy(update={"enabled": False}),
            "compare": config.compare.model_copy(update=compare),
        }
    )


def items_of(run: RunResult) -> EndpointProfile:
    return next(p for p in run.endpoints if p.name == "items")


def test_each_instance_gets_its_own_fixed_hash_seed_unless_the_app_sets_one() -> None:
    app = AppConfig(target="x:app", env={"A": "1"})
    assert [nth_instance(app, j).env["PYTHONHASHSEED"] for j in range(3)] == ["1", "2", "3"]
    assert nth_instance(app, 1).env["A"] == "1"
    own = AppConfig(target="x:app", env={"PYTHONHASHSEED": "0"})
    assert nth_instance(own, 2).env["PYTHONHASHSEED"] == "0"


def test_a_stored_run_rotates_its_trials_over_the_instances(
    tiny_config: Callable[..., Path], tmp_path: Path
) -> None:
    config = with_instances(tiny_config(BY_SEED), run_instances=2, reference=True)
    run = _measured(config, tmp_path / "out")

    first, second, third, fourth = items_of(run).trial_medians_ms
    # Trials 1 and 3 ran on instance 1 (seed 1), trials 2 and 4 on instance 2 (seed 2).
    assert second > 1.5 * first and fourth > 1.5 * third
    assert run.instances == 2
    assert "Listening at" in (tmp_path / "out" / "instance-2" / "app.log").read_text()
    assert not (tmp_path / "out" / "instance-3").exists()
    # perfgate wraps this app (a WSGI target), so its own workers answered the reference.
    assert run.reference is not None and run.reference.path == IN_APP_PATH
    assert len(run.reference.trial_medians_ms) == 4 and run.reference.error_rate == 0
    assert not (tmp_path / "out" / "reference").exists()


def test_an_unwrapped_app_gets_a_reference_app_beside_each_instance(
    tiny_config: Callable[..., Path], tmp_path: Path
) -> None:
    config = with_instances(tiny_config(), run_instances=2, reference=True)
    config = config.model_copy(
        update={"app": config.app.model_copy(update={"count_queries": False})}
    )
    run = _measured(config, tmp_path / "out")

    assert run.reference is not None and run.reference.path == OWN_APP_PATH
    assert len(run.reference.trial_medians_ms) == 4 and run.reference.error_rate == 0
    for folder in ("reference", "reference-2"):
        assert "Listening at" in (tmp_path / "out" / folder / "app.log").read_text()


def test_an_ab_pair_shares_a_hash_seed_drawn_for_the_check(
    tiny_config: Callable[..., Path], tmp_path: Path
) -> None:
    config = with_instances(
        tiny_config({**BY_SEED, "TINY_PRINT_ENV": "PYTHONHASHSEED"}), ab_instances=2
    )
    folder = config.folder
    sides = (Side("base", folder, config.app), Side("head", folder, config.app))
    base, head = measure_ab(config, *sides, Layout(tmp_path / "ab"), Console(), seed=3)

    assert base.instances == head.instances == 2
    seeds = {
        name: re.findall(r"tiny starting with PYTHONHASHSEED=(\d+)", log.read_text())[-1]
        for name in ("base", "base-2", "head", "head-2")
        for log in [tmp_path / "ab" / name / "app.log"]
    }
    # One seed per pair, on both of its apps; drawn (by --seed), not the stored mode's 1 and 2.
    assert seeds["base"] == seeds["head"] and seeds["base-2"] == seeds["head-2"]
    assert seeds["base"] != seeds["base-2"] and {seeds["base"], seeds["base-2"]} != {"1", "2"}
    base_items, head_items = (items_of(run) for run in (base, head))
    for b, h in zip(base_items.trial_medians_ms, head_items.trial_medians_ms, strict=True):
        assert 0.8 < h / b < 1.25  # same code, same seed within a pair: the halves agree
    assert base_items.trial_instance == head_items.trial_instance == [0, 1, 0, 1]
