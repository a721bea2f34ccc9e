"""Inside the app's server: the database's own plan of a statement, and the index it lacks.

Called by instrument.py for each distinct statement shape (SELECT, WITH, UPDATE, DELETE; EXPLAIN
runs none of them) of a counted (probe) request, right
after the app's statement ran, through the app's own DBAPI connection (a second cursor, so the
app's pending rows are untouched; on PostgreSQL inside a savepoint, so a failed EXPLAIN cannot
abort the app's transaction). Nothing here runs on timed requests.

A plan line that reads every row of a table (SQLite `SCAN t`, PostgreSQL `Seq Scan on t`) while
the statement filters or joins that table on columns no index starts with is a *scan*: the
record names the table, the columns, the table's row count and the `CREATE INDEX` to add. On
SQLite the index is then tried on a scratch copy of the database (sqlite3's backup API, into a
temporary folder removed afterwards): the statement is planned again and timed before and after,
with the app's own parameters, which never leave the app's process (a SELECT only: writes are
planned, not run, even on the copy). The app's database is only read.

Standard library only, like the rest of run/inapp.
"""

from __future__ import annotations

import re
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

EXPLAINABLE = re.compile(r"^\s*(SELECT|WITH|UPDATE|DELETE)\b", re.IGNORECASE)
READ_ONLY = re.compile(r"^\s*SELECT\b", re.IGNORECASE)  # timed on the copy; the others are not
VERIFY_MIN_ROWS = 1000  # smaller tables are not worth a copy: the judge ignores them anyway
VERIFY_MAX_BYTES = 512 * 1024 * 1024  # larger databases are not copied
TIMING_RUNS = 5
_SQLITE_SCAN = re.compile(r"^SCAN (?:TABLE )?(\w+)(?: AS (\w+))?$")
_SQLITE_AUTOMATIC = re.compile(r"USING AUTOMATIC (?:PARTIAL )?(?:COVERING )?INDEX \((\w+)")
_LITERAL = re.compile(r"'(?:[^']|'')*'")
_PG_SCAN = re.compile(r"Seq Scan on (\w+)(?: (\w+))?")
_SOURCE = re.compile(
    r"\b(?:FROM|JOIN|UPDATE)\s+\"?(\w+)\"?(?:\s+(?:AS\s+)?\"?(\w+)\"?)?", re.IGNORECASE
)
_KEYWORDS = {
    "where", "join", "on", "left", "right", "inner", "outer", "cross", "group", "order", "limit",
    "offset", "union", "having", "natural", "full", "using", "window",
}  # fmt: skip
_OPERATOR = r"(?:=|==|!=|<>|<=|>=|<|>|\bIN\b|\bLIKE\b|\bIS\b|\bBETWEEN\b)"

# Per worker process: (database, statement, table, columns) -> what the copy showed.
_verified: dict[tuple[str, str, str, tuple[str, ...]], dict[str, Any]] = {}


def explain(dialect: str, cursor: Any, statement: str, parameters: Any) -> dict[str, Any] | None:
    """The plan record of one statement, or None when it is not a query perfgate explains."""
    if not EXPLAINABLE.match(statement) or dialect not in ("sqlite", "postgresql"):
        return None
    connection = cursor.connection
    try:
        if dialect == "sqlite":
            return _sqlite(connection, statement, parameters)
        return _postgresql(connection, statement, parameters)
    except Exception as exc:  # a plan is advice: it must never break the app's request
        return {"database": dialect, "lines": [], "scans": [], "error": str(exc)[:300]}


# --- SQLite -----------------------------------------------------------------------------------


def _sqlite(connection: Any, statement: str, parameters: Any) -> dict[str, Any]:
    lines = _sqlite_plan(connection, statement, parameters)
    sources = _sources(statement)
    scans = []
    for line in lines:
        automatic = _SQLITE_AUTOMATIC.search(line)
        scan = _SQLITE_SCAN.match(line)
        if not (scan or automatic):
            continue
        name = scan.group(2) or scan.group(1) if scan else line.split()[1]
        table = sources.get(name, name)
        columns = _table_columns(connection, table)
        if automatic:  # SQLite built a throwaway index for this statement: it wants one
            wanted = [automatic.group(1)] if automatic.group(1) in columns else []
        else:
            wanted = _filtered_columns(statement, name, columns, len(sources) == 1)
        wanted = [c for c in wanted if c not in _sqlite_indexed(connection, table)]
        if not wanted:
            continue
        rows = int(connection.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])
        found = _scan(table, wanted, rows, line)
        if rows >= VERIFY_MIN_ROWS:
            found.update(_verify(connection, statement, parameters, table, wanted))
        scans.append(found)
    return {"database": "sqlite", "lines": lines, "scans": scans}


def _sqlite_plan(connection: Any, statement: str, parameters: Any) -> list[str]:
    rows = connection.execute("EXPLAIN QUERY PLAN " + statement, parameters or ()).fetchall()
    return [str(row[3]) for row in rows]


def _table_columns(connection: Any, table: str) -> list[str]:
    return [str(row[1]) for row in connection.execute(f'PRAGMA table_info("{table}")')]


def _sqlite_indexed(connection: Any, table: str) -> set[str]:
    """Columns that lead an index of the table (an INTEGER PRIMARY KEY is the rowid itself)."""
    leading = {
        str(row[1])
        for row in connection.execute(f'PRAGMA table_info("{table}")')
        if row[5] == 1 and str(row[2]).upper() == "INTEGER"
    }
    for index in connection.execute(f'PRAGMA index_list("{table}")').fetchall():
        first = connection.execute(f'PRAGMA index_info("{index[1]}")').fetchone()
        if first is not None and first[2] is not None:
            leading.add(str(first[2]))
    return leading


def _verify(
    connection: Any, statement: str, parameters: Any, table: str, columns: list[str]
) -> dict[str, Any]:
    """Create the index on a scratch copy, plan and time the statement before and after."""
    database = _sqlite_file(connection)
    if database is None:
        return {"verify_note": "an in-memory database cannot be copied"}
    if Path(database).stat().st_size > VERIFY_MAX_BYTES:
        return {"verify_note": f"the database is over {VERIFY_MAX_BYTES >> 20} MiB: not copied"}
    key = (database, statement, table, tuple(columns))
    if key not in _verified:
        with tempfile.TemporaryDirectory(prefix="perfgate-plan-") as folder:
            copy = sqlite3.connect(str(Path(folder) / "copy.db"))
            try:
                source = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
                try:
                    source.backup(copy)
                finally:
                    source.close()
                timed = READ_ONLY.match(statement) is not None
                before = _timed(copy, statement, parameters) if timed else None
                copy.execute(create_index(table, columns))
                after_lines = _sqlite_plan(copy, statement, parameters)
                after = _timed(copy, statement, parameters) if timed else None
            finally:
                copy.close()
        name = index_name(table, columns)
        _verified[key] = {
            "verified": any(name in line for line in after_lines),
            "plan_after": after_lines,
            "ms_before": before,
            "ms_after": after,
        }
    return _verified[key]


def _sqlite_file(connection: Any) -> str | None:
    for row in connection.execute("PRAGMA database_list"):
        if row[1] == "main":
            return str(row[2]) or None
    return None


def _timed(connection: Any, statement: str, parameters: Any) -> float:
    """Median milliseconds of running the statement and reading all its rows."""
    runs = []
    for _ in range(TIMING_RUNS):
        began = time.perf_counter()
        connection.execute(statement, parameters or ()).fetchall()
        runs.append((time.perf_counter() - began) * 1000)
    return round(statistics.median(runs), 4)


# --- PostgreSQL -------------------------------------------------------------------------------


def _postgresql(connection: Any, statement: str, parameters: Any) -> dict[str, Any]:
    cursor = connection.cursor()
    savepoint = not getattr(connection, "autocommit", False)
    if savepoint:
        cursor.execute("SAVEPOINT perfgate_plan")
    try:
        cursor.execute("EXPLAIN " + statement, parameters or None)
        lines = [str(row[0]) for row in cursor.fetchall()]
        sources = _sources(statement)
        scans = []
        for number, line in enumerate(lines):
            scan = _PG_SCAN.search(line)
            if not scan:
                continue
            name = scan.group(2) or scan.group(1)
            table = scan.group(1)
            filtered = _LITERAL.sub("?", _pg_filter(lines[number + 1 :]))
            columns = _pg_columns(cursor, table)
            wanted = [c for c in columns if re.search(rf"\b{re.escape(c)}\b", filtered)]
            wanted = [c for c in wanted if c not in _pg_indexed(cursor, table)]
            if not wanted or name not in sources and table not in sources.values():
                continue
            cursor.execute(f'SELECT count(*) FROM "{table}"')
            rows = int(cursor.fetchone()[0])
            found = _scan(table, wanted, rows, line.strip())
            found.update(verified=None, verify_note="PostgreSQL: not tried on a copy")
            scans.append(found)
    finally:
        if savepoint:
            cursor.execute("ROLLBACK TO SAVEPOINT perfgate_plan")
            cursor.execute("RELEASE SAVEPOINT perfgate_plan")
        cursor.close()
    # PostgreSQL writes the parameters' values into its plan: they stay in the app.
    masked = [_LITERAL.sub("?", line) for line in lines]
    for each in scans:
        each["line"] = _LITERAL.sub("?", each["line"])
    return {"database": "postgresql", "lines": masked, "scans": scans}


def _pg_filter(following: list[str]) -> str:
    """The `Filter:` of the node whose lines follow (its properties end at the next node)."""
    for line in following:
        if "->" in line:
            return ""
        if "Filter:" in line:
            return line.split("Filter:", 1)[1]
    return ""


def _pg_columns(cursor: Any, table: str) -> list[str]:
    cursor.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
        "AND table_schema = current_schema() ORDER BY ordinal_position",
        (table,),
    )
    return [str(row[0]) for row in cursor.fetchall()]


def _pg_indexed(cursor: Any, table: str) -> set[str]:
    cursor.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = i.indkey[0] WHERE i.indrelid = to_regclass(%s)",
        (table,),
    )
    return {str(row[0]) for row in cursor.fetchall()}


# --- the statement's text ---------------------------------------------------------------------


def _sources(statement: str) -> dict[str, str]:
    """Names the statement reads tables by (alias or table name) -> the table's name."""
    found: dict[str, str] = {}
    for table, alias in _SOURCE.findall(statement):
        found[table] = table
        if alias and alias.lower() not in _KEYWORDS:
            found[alias] = table
    return found


def _filtered_columns(statement: str, name: str, columns: list[str], alone: bool) -> list[str]:
    """Columns of table `name` compared in the statement (qualified, or bare when it is the
    only table): those compared for equality first (an index serves them best leading), each
    group in the order the statement names them."""
    text = re.split(r"\bWHERE\b|\bON\b", statement, maxsplit=1, flags=re.IGNORECASE)
    tail = " ".join(text[1:]) if len(text) > 1 else ""
    prefix = rf"(?:\"?{re.escape(name)}\"?\.){'?' if alone else ''}"
    found: list[tuple[bool, int, str]] = []
    for column in columns:
        ref = rf"(?<![\w.]){prefix}\"?{re.escape(column)}\"?(?!\w)"
        match = re.search(rf"{ref}\s*{_OPERATOR}|{_OPERATOR}\s*{ref}", tail, re.IGNORECASE)
        if match:
            equal = re.search(r"(?<![<>!])=|\bIN\b", match.group(0), re.IGNORECASE) is not None
            found.append((not equal, match.start(), column))
    return [column for *_, column in sorted(found)]


def index_name(table: str, columns: list[str]) -> str:
    return "ix_" + "_".join([table, *columns])


def create_index(table: str, columns: list[str]) -> str:
    return f"CREATE INDEX {index_name(table, columns)} ON {table} ({', '.join(columns)})"


def _scan(table: str, columns: list[str], rows: int, line: str) -> dict[str, Any]:
    return {
        "table": table,
        "columns": columns,
        "rows": rows,
        "line": line,
        "create_index": create_index(table, columns),
    }
