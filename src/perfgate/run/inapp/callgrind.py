"""Valgrind client requests from Python: switch callgrind's counting on and dump it, in-process.

Callgrind is steered from inside the program it runs by "client requests": a fixed sequence of
instructions that does nothing on a real CPU and that Valgrind's translator recognizes. C code
gets them from valgrind.h; Python has no such header, so this module writes the x86-64 sequence
into an executable page and calls it through ctypes. That makes every batch boundary exact (the
dump happens at one known point of the wrapper's code), needs no ptrace (callgrind_control does,
and containers rarely allow it), and costs a function call when not under Valgrind.

Standard library only: it runs inside the app's workers (perfgate.run.inapp).
"""

from __future__ import annotations

import ctypes
import mmap
import platform
from collections.abc import Callable

# Request codes from valgrind.h and callgrind.h (VG_USERREQ_TOOL_BASE('C','T') + n).
_RUNNING_ON_VALGRIND = 0x1001
_CALLGRIND = (ord("C") << 24) | (ord("T") << 16)
_DUMP_STATS_AT = _CALLGRIND + 3
_ZERO_STATS = _CALLGRIND + 1
_TOGGLE_COLLECT = _CALLGRIND + 2
_START_INSTRUMENTATION = _CALLGRIND + 4
_STOP_INSTRUMENTATION = _CALLGRIND + 5

# request(args, default): rax = args, rdx = default, the special preamble (four rotations of rdi
# by 128 bits in all: a no-op), `xchg rbx, rbx` (the request itself), the result from rdx.
_X86_64 = bytes.fromhex(
    "53"  # push rbx
    "4889f8"  # mov rax, rdi
    "4889f2"  # mov rdx, rsi
    "48c1c703"
    "48c1c70d"
    "48c1c73d"
    "48c1c733"  # rol rdi, 3 / 13 / 61 / 51
    "4887db"  # xchg rbx, rbx
    "4889d0"  # mov rax, rdx
    "5b"  # pop rbx
    "c3"  # ret
)

_Request = Callable[[int, int], int]
_request: _Request | None = None
_page: mmap.mmap | None = None  # kept alive: the code lives in it


def _load() -> _Request | None:
    global _request, _page
    if _request is not None or platform.machine() not in ("x86_64", "AMD64"):
        return _request
    try:
        page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    except (OSError, AttributeError):  # no executable mappings allowed here
        return None
    page.write(_X86_64)
    address = ctypes.addressof(ctypes.c_char.from_buffer(page))
    function = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p, ctypes.c_uint64)(address)
    _page, _request = page, function
    return function


def _call(code: int, argument: int = 0) -> int:
    request = _load()
    if request is None:
        return 0
    args = (ctypes.c_uint64 * 6)(code, argument, 0, 0, 0, 0)
    return int(request(ctypes.addressof(args), 0))


def supported() -> bool:
    """Whether client requests can be sent from this machine's Python."""
    return _load() is not None


def running_on_valgrind() -> bool:
    return _call(_RUNNING_ON_VALGRIND) > 0


def start() -> None:
    """Instrument from here on (the process started with --instr-atstart=no) and zero the
    counters, so the next dump holds only what follows."""
    _call(_START_INSTRUMENTATION)
    _call(_ZERO_STATS)


def dump(label: str) -> None:
    """Write the counts since the last dump to a new file whose `desc:` line names `label`;
    the counters start again from zero."""
    text = ctypes.create_string_buffer(label.encode("ascii", "replace")[:200])
    _call(_DUMP_STATS_AT, ctypes.addressof(text))


def toggle_collect() -> None:
    """Collect from here if callgrind was not collecting, stop collecting if it was."""
    _call(_TOGGLE_COLLECT)


def zero() -> None:
    """Start the counts again from zero (what ran since the last dump is not counted)."""
    _call(_ZERO_STATS)


def stop() -> None:
    _call(_STOP_INSTRUMENTATION)
