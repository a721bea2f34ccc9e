"""`perfgate load URL`: the load engine on its own, as one would use wrk or hey.

Owns the subcommand's flags, their validation (one-line errors, exit 2) and its output: a short
text summary, or one JSON object with `--json`. A progress line is shown while it runs when
stdout is a terminal.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from perfgate.config import Endpoint, LoadConfig
from perfgate.console import Console
from perfgate.errors import ConfigError, ExitStatus, MeasurementError
from perfgate.loadgen.engine import run_level
from perfgate.report.load import as_json, as_text

FLAGS = {
    "concurrency": "-c/--concurrency",
    "duration_s": "-d/--duration",
    "warmup_s": "--warmup",
    "timeout_s": "--timeout",
    "rate": "--rate",
    "method": "-m/--method",
    "path": "URL",
}


def add_parser(sub: Any) -> None:
    """Register `perfgate load` on the main parser's subcommands."""
    p: argparse.ArgumentParser = sub.add_parser(
        "load", help="load-test one URL (closed loop, or open at --rate)"
    )
    p.add_argument("url", metavar="URL", help="http:// URL to load")
    p.add_argument("-c", "--concurrency", type=int, default=10, help="connections (default 10)")
    p.add_argument("-d", "--duration", type=float, default=10.0, help="seconds (default 10)")
    p.add_argument("--rate", type=float, default=None,
                   help="requests per second on a fixed schedule (open model)")  # fmt: skip
    p.add_argument("-m", "--method", default="GET", help="HTTP method (default GET)")
    p.add_argument("-H", "--header", action="append", default=[], metavar="'NAME: VALUE'",
                   help="add a request header (repeatable)")  # fmt: skip
    p.add_argument("--body", default=None, help="request body")
    p.add_argument("--timeout", type=float, default=10.0, help="per-request timeout, seconds")
    p.add_argument("--warmup", type=float, default=0.0, help="seconds not counted at the start")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=cmd_load)


def parse_target(args: argparse.Namespace) -> tuple[str, Endpoint, LoadConfig]:
    """The base URL, the endpoint and the load settings, or a ConfigError naming the flag."""
    parts = urlsplit(args.url)
    if parts.scheme != "http" or not parts.hostname:
        raise ConfigError(f"URL {args.url!r}: only http:// URLs are supported", "e.g. "
                          "http://127.0.0.1:8000/health")  # fmt: skip
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ConfigError(f"URL {args.url!r}: bad port") from None
    headers = {}
    for header in args.header:
        name, sep, value = header.partition(":")
        if not sep or not name.strip():
            raise ConfigError(f"-H/--header {header!r}: write it as 'Name: value'")
        headers[name.strip()] = value.strip()
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    base = f"http://{parts.netloc}"
    try:
        endpoint = Endpoint(
            name="load", method=args.method, path=path, headers=headers, body=args.body,
            expect_status=list(range(200, 400)),
        )  # fmt: skip
        config = LoadConfig(
            concurrency=[args.concurrency], duration_s=args.duration, warmup_s=args.warmup,
            timeout_s=args.timeout, rate=args.rate,
        )  # fmt: skip
    except ValidationError as exc:
        error = exc.errors()[0]
        flag = FLAGS.get(str(error["loc"][0]) if error["loc"] else "", "a flag")
        message = error["msg"].removeprefix("Value error, ")
        value = error.get("input")
        value = value[0] if isinstance(value, list) and len(value) == 1 else value
        raise ConfigError(f"{flag} = {value!r}: {message}") from None
    return base, endpoint, config


def cmd_load(args: argparse.Namespace, console: Console) -> ExitStatus:
    base, endpoint, config = parse_target(args)
    progress = _Progress(config) if sys.stdout.isatty() else None
    try:
        level = run_level(base, [endpoint], config, config.concurrency[0], progress)
    except OSError as exc:
        raise MeasurementError(f"cannot reach {args.url}: {exc}") from None
    finally:
        if progress is not None:
            progress.clear()
    if args.json:
        console.show(json.dumps(as_json(args.url, level), indent=2))
    else:
        console.show(as_text(args.url, level), end="")
    succeeded = round(level.success_rate * (level.requests + level.dropped))
    if level.requests and not succeeded and not level.status_codes:
        errors = ", ".join(f"{k}: {v}" for k, v in level.errors.items())
        raise MeasurementError(f"no request to {args.url} got an answer ({errors})",
                               "is the server running and listening there?")  # fmt: skip
    return ExitStatus.OK


class _Progress:
    def __init__(self, config: LoadConfig) -> None:
        self.total = config.warmup_s + config.duration_s

    def __call__(self, elapsed: float, requests: int) -> None:
        rate = requests / elapsed if elapsed else 0.0
        sys.stdout.write(f"\r  {min(elapsed, self.total):5.1f}/{self.total:.1f} s  "
                         f"{requests:,} requests  {rate:,.0f} req/s \033[K")  # fmt: skip
        sys.stdout.flush()

    def clear(self) -> None:
        sys.stdout.write("\r\033[K")
        sys.stdout.flush()
