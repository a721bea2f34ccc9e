"""The bad-input corpus: every file in tests/corpus/*.yaml is one case, run through main().

A case's leading comments say what must happen:
  # exit: N             the exit status
  # message: TEXT       a fragment of what perfgate prints (or of the report it writes)
  # baseline: FILE      run with --baseline FILE from the corpus (__SCHEMA__ -> current version)
  # config: FILE        run with -c FILE instead of the case itself (a missing file, say)
Add a case by adding a file; this test picks it up.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from perfgate.cli.main import main
from perfgate.results import SCHEMA_VERSION

CORPUS = Path(__file__).parent / "corpus"
CASES = sorted(CORPUS.glob("*.yaml"))


def _header(path: Path) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in path.read_bytes().decode("latin-1").splitlines():
        if not line.startswith("#"):
            break
        key, sep, value = line[1:].strip().partition(":")
        if sep and key in ("exit", "message", "baseline", "config"):
            fields[key] = value.strip()
    return fields


def test_every_case_says_what_it_expects() -> None:
    assert len(CASES) >= 25
    for case in CASES:
        header = _header(case)
        assert "exit" in header and "message" in header, case.name


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_case(case: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    header = _header(case)
    config = CORPUS / header.get("config", case.name)
    out = tmp_path / "out"
    argv = ["check", "-c", str(config), "--out", str(out)]
    if "baseline" in header:
        template = (CORPUS / header["baseline"]).read_text()
        baseline = tmp_path / "baseline.json"
        baseline.write_text(template.replace("__SCHEMA__", str(SCHEMA_VERSION)))
        argv += ["--baseline", str(baseline)]
    else:
        argv += ["--baseline", str(tmp_path / "no-baseline.json")]

    status = main(argv)
    printed = capsys.readouterr()
    text = printed.out + printed.err
    report = out / "report.md"
    if report.exists():
        text += report.read_text()

    assert status == int(header["exit"]), text
    assert header["message"] in text
    # perfgate's own words carry no traceback (the app's log tail may: it is the app's).
    assert "Traceback" not in text.partition("--- app log")[0]
    if status == 2:
        # A usage error is one line that names the file it is about.
        errors = [line for line in printed.err.splitlines() if line.startswith("perfgate: error:")]
        assert len(errors) == 1, printed.err
        named = header.get("baseline") and "baseline.json" or config.name
        assert named in errors[0]


def test_traceback_flag_shows_the_trace(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["--traceback", "check", "-c", str(CORPUS / "unknown_key.yaml")])
    err = capsys.readouterr().err
    assert status == 2
    assert "Traceback" in err and "did you mean 'samples'" in err
