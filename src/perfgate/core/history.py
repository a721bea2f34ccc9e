"""The stored history a check is compared with: the segment of the baseline runs that holds
this tree's base commit (perfgate.judge.steps), found with git; and `perfgate history`.

The base is the newest baseline run whose commit is this tree's HEAD or an ancestor of it. That
one rule covers a local branch (the runs were recorded on main, which the branch grew from) and
a pull request in GitHub Actions (its merge commit has the base branch's tip as a parent), with
no need to know the base branch's name. Where git cannot answer (not installed, a shallow clone,
runs recorded without a commit), the newest segment is used and a note says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from perfgate.errors import ResultsError
from perfgate.judge.steps import HistoryPlan, history_notes, plan_history
from perfgate.results import BaselineFile, RunResult, load_baseline
from perfgate.run.worktree import is_ancestor


@dataclass(frozen=True)
class StoredHistory:
    """The baseline a stored-mode check is judged against (the runs of its segment), what the
    report says about it, and the plan it came from (None without a baseline)."""

    baseline: BaselineFile | None
    notes: list[str] = field(default_factory=list)
    plan: HistoryPlan | None = None


def base_index(runs: Sequence[RunResult], folder: Path, head: str = "HEAD") -> int | None:
    """The newest run whose commit is `head` or an ancestor of it, or None."""
    answers: dict[str, bool] = {}
    for index in range(len(runs) - 1, -1, -1):
        commit = runs[index].environment.git_commit
        if commit is None:
            continue
        if commit not in answers:
            answers[commit] = is_ancestor(folder, commit, head)
        if answers[commit]:
            return index
    return None


def history_for_check(
    baseline: BaselineFile | None, folder: Path, head: str | None = "HEAD"
) -> StoredHistory:
    """The segment of `baseline` a check of `head` (a commit, in the repository of `folder`) is
    compared with. `head` None: the commit is unknown, so the newest segment."""
    if baseline is None or not baseline.runs:
        return StoredHistory(baseline)
    where = base_index(baseline.runs, folder, head) if head else None
    plan = plan_history(baseline.runs, where)
    segment = baseline.model_copy(update={"runs": plan.judged})
    return StoredHistory(segment, history_notes(plan), plan)


def describe_history(path: Path, folder: Path) -> HistoryPlan:
    """`perfgate history`: the plan a check from `folder`'s HEAD would use."""
    if not path.exists():
        raise ResultsError(
            f"{path}: baseline file not found, so there is no history to show",
            "record runs on main with `perfgate baseline`, or name the file with --baseline",
        )
    runs = load_baseline(path).runs
    return plan_history(runs, base_index(runs, folder))
