"""What `perfgate load` prints: a short text summary of one load level, or one JSON object."""

from __future__ import annotations

from typing import Any

from perfgate.report.text import plain
from perfgate.results import LoadLevel

POINTS = ("p50", "p90", "p95", "p99", "p999", "max")


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
    model = (
        "closed loop"
        if level.model == "closed"
        else f"open at {plain(level.target_rps or 0)} req/s"
    )
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
