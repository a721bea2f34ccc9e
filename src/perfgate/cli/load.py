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
from perfgate.errors import ConfigError, ExitStatus, MeasurementError
from perfgate.loadgen.engine import run_level
from perfgate.results import LoadLevel

POINTS = ("p50", "p90", "p95", "p99", "p999", "max")
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


def cmd_load(args: argparse.Namespace) -> ExitStatus:
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
        print(json.dumps(as_json(args.url, level), indent=2))
    else:
        print(as_text(args.url, level), end="")
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


def as_json(url: str, level: LoadLevel) -> dict[str, Any]:
    return {
        "url": url,
        "model": level.model,
        "connections": level.concurrency,
        "target_rps": level.target_rps,
        "requests": level.requests,
        "duration_s": level.duration_s,
        "rps": level.rps,
        "success_rate": round(level.success_rate, 6),
        "latency_ms": {name: level.latency_ms.get(name) for name in POINTS},
        "errors": level.errors,
        "status_codes": level.status_codes,
        "dropped": level.dropped,
        "send_lateness_ms": level.send_lateness_ms,
        "client_cpu_us_per_request": level.client_cpu_us_per_request,
        "client_cpu_share": level.client_cpu_share,
        "client_limited": level.client_limited,
        "notes": level.notes,
    }


def as_text(url: str, level: LoadLevel) -> str:
    model = "closed loop" if level.model == "closed" else f"open at {level.target_rps:g} req/s"
    lat = level.latency_ms
    points = "  ".join(
        f"{name.replace('p999', 'p99.9')} {lat[name]:.2f}" for name in POINTS if name in lat
    )
    lines = [
        f"perfgate load {url}: {level.concurrency} connections, {model}, {level.duration_s:g} s",
        f"  requests    {level.requests:,} ({level.rps:,.1f} req/s, "
        f"{level.success_rate:.2%} succeeded)",
        f"  latency ms  {points or '-'}",
        "  status      " + (", ".join(f"{k}: {v:,}" for k, v in level.status_codes.items()) or "-"),
        "  errors      " + (", ".join(f"{k}: {v:,}" for k, v in level.errors.items()) or "none"),
        f"  client CPU  {level.client_cpu_us_per_request:.1f} µs/request "
        f"({level.client_cpu_share:.0%} of one core)",
    ]
    if level.model == "open":
        late = level.send_lateness_ms
        lines.append(
            f"  schedule    {level.dropped:,} dropped; send lateness ms p50 "
            f"{late.get('p50', 0):.2f}  p99 {late.get('p99', 0):.2f}  max {late.get('max', 0):.2f}"
        )
    lines += [f"  note: {note}" for note in level.notes]
    return "\n".join(lines) + "\n"
