"""The documentation holds together: paths, links and anchors resolve; the README stays short.

Fast and offline: it only reads files. Every docs page is discovered, none is listed here.
Anchors are GitHub's: the heading's text in lower case, punctuation dropped except '-' and '_',
spaces turned into '-', and '-1', '-2', ... added to repeats of the same heading.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
BENCH = ROOT / "bench"
MAX_README_LINES = 250
# Nothing in the repository may point at files that live outside it.
FORBIDDEN = ("NOISE.md", "../shared", "/work/shared")
SKIPPED_PARTS = {"__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}

# docs/<something>.md, optionally #anchor, not inside a longer path such as ../docs/ or x/docs/.
DOC_PATH = re.compile(r"(?<![\w./-])(docs/[\w./-]*?\.md)(?:#([\w-]+))?(?!\w)")
# [text](target) and ![alt](target), with an optional "title".
LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
# (README, "Some heading"), README "Some heading", README 'Some heading', the README section
# 'Some heading', README ("Some heading").
CITATION = re.compile(
    r"\bREADME(?:\.md)?(?:,|\s+section)?\s*\(?\s*"
    r"(?:\"(?P<double>[^\"]{1,120}?)\"|'(?P<single>[^']{1,120}?)')"
)
BENCH_COMMAND = re.compile(r"python3? (bench/[\w-]+\.py)([^`#\n]*)")


# --- what to read ---------------------------------------------------------------------------


def _files(folder: Path, pattern: str = "*") -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.rglob(pattern)
        if p.is_file()
        and not SKIPPED_PARTS & set(p.parts)
        and not any(part.endswith(".egg-info") for part in p.parts)
        and p.suffix != ".pyc"
    )


def doc_pages() -> list[Path]:
    return _files(DOCS, "*.md")


def markdown_files() -> list[Path]:
    return [README, *doc_pages()]


def github_files() -> list[Path]:
    action = [ROOT / "action.yml"] if (ROOT / "action.yml").is_file() else []
    workflows = [*_files(ROOT / ".github", "*.yml"), *_files(ROOT / ".github", "*.yaml")]
    return action + sorted(workflows)


def code_files() -> list[Path]:
    return [*_files(ROOT / "src", "*.py"), *_files(BENCH, "*.py")]


def files_naming_docs() -> list[Path]:
    """(a): where a `docs/....md` path must resolve."""
    return [README, *_files(DOCS), *code_files(), *github_files()]


def files_kept_inside() -> list[Path]:
    """(c): what must not point outside the repository."""
    return [README, *_files(DOCS), *_files(ROOT / "src"), *_files(BENCH), *github_files()]


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


# --- Markdown, as GitHub reads it ------------------------------------------------------------


def github_anchor(heading: str) -> str:
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link shows its text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML shows nothing of its tags
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def prose_lines(text: str) -> Iterator[tuple[int, str]]:
    """Numbered lines outside fenced code blocks."""
    fence = ""
    for number, line in enumerate(text.splitlines(), 1):
        match = FENCE.match(line)
        if match:
            marker = match.group(1)
            if not fence:
                fence = marker
                continue
            if marker[0] == fence[0] and len(marker) >= len(fence):
                fence = ""
                continue
        if not fence:
            yield number, line


def headings(text: str) -> list[str]:
    return [m.group(1) for _, line in prose_lines(text) if (m := HEADING.match(line))]


@cache
def anchors(path: Path) -> frozenset[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for heading in headings(read(path)):
        anchor = github_anchor(heading)
        if anchor in seen:
            seen[anchor] += 1
            found.add(f"{anchor}-{seen[anchor]}")
        else:
            seen[anchor] = 0
            found.add(anchor)
    return frozenset(found)


def links(text: str) -> Iterator[tuple[int, str]]:
    """Numbered link targets in prose: code blocks and code spans hold no links."""
    for number, line in prose_lines(text):
        for match in LINK.finditer(CODE_SPAN.sub("", line)):
            yield number, match.group(1)


def section(text: str, title: str) -> str:
    """The lines under the heading `title` until the next heading of the same or a higher level."""
    lines = text.splitlines()
    for start, line in enumerate(lines):
        match = re.match(r"^(#{1,6})[ \t]+(.+?)[ \t]*$", line)
        if match and github_anchor(match.group(2)) == github_anchor(title):
            level = len(match.group(1))
            body: list[str] = []
            for following in lines[start + 1 :]:
                deeper = re.match(r"^(#{1,6})[ \t]", following)
                if deeper and len(deeper.group(1)) <= level:
                    break
                body.append(following)
            return "\n".join(body)
    return ""


def fenced_blocks(text: str) -> list[list[str]]:
    blocks: list[list[str]] = []
    current: list[str] | None = None
    for line in text.splitlines():
        if FENCE.match(line):
            if current is None:
                current = []
            else:
                blocks.append(current)
                current = None
        elif current is not None:
            current.append(line)
    return blocks


def _report(problems: Iterable[str]) -> str:
    return "\n".join(["", *problems])


# --- the checks -----------------------------------------------------------------------------


def test_github_anchor_matches_github() -> None:
    assert github_anchor("thresholds.yaml reference") == "thresholdsyaml-reference"
    assert github_anchor("Defaults, and why") == "defaults-and-why"
    assert github_anchor("`perfgate calibrate`") == "perfgate-calibrate"
    assert (
        github_anchor("Side by side: `perfgate check --against REF` (the mode for pull requests)")
        == "side-by-side-perfgate-check---against-ref-the-mode-for-pull-requests"
    )
    assert github_anchor("Power: what each check can detect") == "power-what-each-check-can-detect"
    assert github_anchor("snake_case stays") == "snake_case-stays"


def test_docs_exist_and_are_indexed() -> None:
    pages = doc_pages()
    assert pages, "no Markdown pages under docs/"
    index = DOCS / "README.md"
    assert index.is_file(), "docs/README.md, the index of the docs, is missing"
    linked = {
        (index.parent / unquote(target.split("#")[0])).resolve()
        for _, target in links(read(index))
        if not SCHEME.match(target)
    }
    missing = [rel(p) for p in pages if p != index and p.resolve() not in linked]
    assert not missing, "pages docs/README.md does not link:" + _report(missing)


def test_docs_paths_named_anywhere_exist() -> None:
    """(a) Every docs/<page>.md[#anchor] named in the README, docs, code or workflows resolves."""
    problems = []
    for path in files_naming_docs():
        for number, line in enumerate(read(path).splitlines(), 1):
            for match in DOC_PATH.finditer(line):
                target, anchor = ROOT / match.group(1), match.group(2)
                where = f"{rel(path)}:{number}: {match.group(0)}"
                if not target.is_file():
                    problems.append(f"{where}: no such file")
                elif anchor and anchor not in anchors(target):
                    problems.append(f"{where}: no heading gives #{anchor}")
    assert not problems, "docs paths that do not resolve:" + _report(problems)


def test_relative_markdown_links_resolve() -> None:
    """(b) Relative links in the README and docs reach a file of the repository (and a heading)."""
    problems = []
    for path in markdown_files():
        for number, target in links(read(path)):
            if SCHEME.match(target):
                continue  # http(s), mailto: not checked offline
            where = f"{rel(path)}:{number}: ({target})"
            file_part, _, anchor = target.partition("#")
            file_part = unquote(file_part)
            if not file_part:
                resolved = path
            elif file_part.startswith("/"):
                resolved = ROOT / file_part.lstrip("/")
            else:
                resolved = path.parent / file_part
            resolved = resolved.resolve()
            if not resolved.is_relative_to(ROOT):
                problems.append(f"{where}: points outside the repository")
            elif not resolved.exists():
                problems.append(f"{where}: no such file")
            elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
                problems.append(f"{where}: no heading gives #{anchor}")
    assert not problems, "Markdown links that do not resolve:" + _report(problems)


def test_nothing_points_outside_the_repository() -> None:
    """(c) No README, docs, code or workflow file names notes kept outside the repository."""
    problems = [
        f"{rel(path)}:{number}: {word}"
        for path in files_kept_inside()
        for number, line in enumerate(read(path).splitlines(), 1)
        for word in FORBIDDEN
        if word in line
    ]
    assert not problems, "mentions of files outside the repository:" + _report(problems)


def test_readme_is_short() -> None:
    """(d) The README is for users in a hurry; method and measurements live in docs/."""
    lines = len(read(README).splitlines())
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines, at most {MAX_README_LINES}"


def test_quick_start_is_make_check_and_make_test() -> None:
    """(e) The quick start's commands are exactly the two that work on a fresh machine."""
    quick = section(read(README), "Quick start")
    assert quick, "README.md has no 'Quick start' section"
    assert "make check" in quick and "make test" in quick
    commands = [
        line.split("#")[0].strip()
        for block in fenced_blocks(quick)
        for line in block
        if line.split("#")[0].strip()
    ]
    assert commands == ["make check", "make test"], commands


def test_readme_citations_name_readme_headings() -> None:
    """Code and workflows that cite (README, "Some heading") name a heading the README has."""
    readme_anchors = anchors(README)
    problems = []
    for path in [*code_files(), *github_files()]:
        original = read(path)
        cited_on = [
            original.count("\n", 0, m.start()) + 1 for m in re.finditer(r"\bREADME", original)
        ]
        # Join implicit string concatenation across lines and comment continuations, so a
        # citation wrapped over two lines reads as one (neither adds or drops a "README").
        text = re.sub(r"\"\s*\n\s*\"", "", original)
        text = re.sub(r"\n[ \t]*#[ \t]*", " ", text)
        for match in CITATION.finditer(text):
            title = " ".join((match.group("double") or match.group("single")).split())
            if github_anchor(title) not in readme_anchors:
                line = cited_on[len(re.findall(r"\bREADME", text[: match.start()]))]
                problems.append(f'{rel(path)}:{line}: README, "{title}"')
    assert not problems, (
        "citations of README headings that no longer exist (point them at docs/<page>.md#anchor):"
        + _report(problems)
    )


def test_evidence_pages_say_when_and_how() -> None:
    """Each evidence page gives the date measured and a command that prints its figures."""
    problems = []
    for page in _files(DOCS / "evidence", "*.md"):
        text = read(page)
        if not re.search(r"\b20\d\d-\d\d-\d\d\b", text):
            problems.append(f"{rel(page)}: no date (YYYY-MM-DD)")
        if not re.search(r"`(?:python3? bench/[\w-]+\.py|perfgate [a-z]+)[^`]*`", text):
            problems.append(f"{rel(page)}: no command (`python bench/....py` or `perfgate ...`)")
    assert not problems, _report(problems)


def test_bench_commands_in_docs_use_real_scripts_and_flags() -> None:
    """`python bench/x.py --flag` in the README or docs names a script and flags that exist."""
    problems = []
    for path in markdown_files():
        for number, line in enumerate(read(path).splitlines(), 1):
            for match in BENCH_COMMAND.finditer(line):
                script = ROOT / match.group(1)
                where = f"{rel(path)}:{number}: {match.group(1)}"
                if not script.is_file():
                    problems.append(f"{where}: no such script")
                    continue
                source = read(script)
                for flag in re.findall(r"(?<![\w-])--[a-z][\w-]*", match.group(2)):
                    if f'"{flag}"' not in source and f"'{flag}'" not in source:
                        problems.append(f"{where}: no option {flag}")
    assert not problems, "bench commands that would not run:" + _report(problems)
