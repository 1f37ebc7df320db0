"""A diagnostic run of the service: ``counter`` under ``tracemalloc``, recording every few
seconds what its Python heap holds, so that a rise in RSS can be told apart: live objects
that keep growing (a leak), or memory freed but kept by the allocators (Python's arenas,
malloc's heap), which RSS counts all the same.

    python -m benchmarks.soak_trace OUT.jsonl [--every 15] [--snapshot-every 300] \\
        -m counter serve ...

(``python -m benchmarks.soak --trace`` runs it for the service under soak.) Every ``every``
seconds one JSON line: RSS, the bytes Python's objects hold now and at most since the line
before (``tracemalloc``), malloc's own figures (glibc ``mallinfo2``: in use, free but kept),
and live objects by type (``gc``, the 25 most numerous). Every ``snapshot_every`` seconds,
also the 40 source lines holding the most memory. Tracing costs the service CPU and memory of
its own: a traced run measures what grows, not how much RSS a plain run has.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import ctypes
import ctypes.util
import gc
import runpy
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

import orjson

TYPES = 25
LINES = 40
ROOT = Path(__file__).resolve().parents[1]


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
                     "uordblks", "fordblks", "keepcost")
    ]  # fmt: skip


def _mallinfo() -> dict[str, int]:
    """glibc's heap: bytes in use (``uordblks``), free but kept (``fordblks``), mapped apart
    (``hblkhd``); empty where there is no ``mallinfo2`` (glibc before 2.33, musl, macOS)."""
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    mallinfo2 = getattr(libc, "mallinfo2", None)
    if mallinfo2 is None:
        return {}
    mallinfo2.restype = _MallInfo2
    info = mallinfo2()
    return {"in_use": info.uordblks, "free_kept": info.fordblks, "mapped": info.hblkhd}


def _rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _types() -> dict[str, int]:
    counts = collections.Counter(type(o).__qualname__ for o in gc.get_objects())
    return {"(all tracked)": sum(counts.values()), **dict(counts.most_common(TYPES))}


def _lines() -> list[dict[str, Any]]:
    stats = tracemalloc.take_snapshot().statistics("lineno")[:LINES]
    return [
        {"line": f"{_short(s.traceback[0].filename)}:{s.traceback[0].lineno}", "bytes": s.size,
         "blocks": s.count}
        for s in stats
    ]  # fmt: skip


def _short(filename: str) -> str:
    """A source file as a reader finds it: from its package (``counter/...``, ``aiohttp/...``)
    or the standard library's folder on."""
    for marker in ("/site-packages/", f"/{ROOT.name}/", "/lib/python3."):
        _, found, tail = filename.rpartition(marker)
        if found:
            return tail if marker != "/lib/python3." else "python3." + tail
    return filename


def record(started: float, snapshot: bool) -> dict[str, Any]:
    """One line: what the process holds now."""
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    line: dict[str, Any] = {
        "t": round(time.monotonic() - started, 1), "rss": _rss(), "traced": current,
        "traced_peak": peak, "malloc": _mallinfo(), "types": _types(),
    }  # fmt: skip
    if snapshot:
        line["lines"] = _lines()
    return line


def _watch(out: Path, every_s: float, snapshot_every_s: float) -> None:
    started = last_snapshot = time.monotonic()
    with out.open("ab") as f:
        while True:
            time.sleep(every_s)
            snapshot = time.monotonic() - last_snapshot >= snapshot_every_s
            if snapshot:
                last_snapshot = time.monotonic()
            f.write(orjson.dumps(record(started, snapshot)) + b"\n")
            f.flush()


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(prog="python -m benchmarks.soak_trace", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("out", type=Path, help="JSON lines, appended")
    p.add_argument("--every", type=float, default=15.0, help="seconds between lines")
    p.add_argument("--snapshot-every", type=float, default=300.0, help="seconds between "
                   "lists of the source lines holding the most")  # fmt: skip
    p.add_argument("-m", dest="module", required=True, help="the module to run")
    args, rest = p.parse_known_args(argv)
    tracemalloc.start(1)
    threading.Thread(
        target=_watch, args=(args.out, args.every, args.snapshot_every), daemon=True
    ).start()
    sys.argv = [args.module, *rest]
    with contextlib.suppress(KeyboardInterrupt):
        runpy.run_module(args.module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()


# -- reading a trace ----------------------------------------------------------------------


def _load(path: Path) -> list[dict[str, Any]]:
    lines = []
    for text in path.read_bytes().splitlines():
        with contextlib.suppress(orjson.JSONDecodeError):  # the last may be cut by the exit
            lines.append(orjson.loads(text))
    return lines


def _mb(n: float) -> str:
    return f"{n / 2**20:.1f}"


def _halves(lines: list[dict[str, Any]], key: str) -> tuple[float, float]:
    """The highest value of ``key`` in the first half of the trace and in the second."""
    half = lines[-1]["t"] / 2
    first = [x[key] for x in lines if x["t"] < half] or [0]
    second = [x[key] for x in lines if x["t"] >= half] or [0]
    return max(first), max(second)


def report(path: Path, until_s: float | None = None) -> str:
    """A trace as Markdown: memory over time, high-water marks by half, the object types and
    the source lines that grew between the middle and the end; lines after ``until_s`` (the
    end of the load: the service stopping) left out."""
    lines = [x for x in _load(path) if until_s is None or x["t"] <= until_s]
    if not lines:
        return "# Trace\n\nNo lines recorded.\n"
    out = ["# Trace of the service's memory", "", f"From `{path}`, {len(lines)} lines. RSS "
           "here includes the tracing, and each list of source lines costs tens of MB that "
           "malloc keeps afterwards: judge by the Python objects, not by RSS.", ""]  # fmt: skip
    for key, name in (("rss", "RSS"), ("traced_peak", "Python objects (traced, peak)")):
        first, second = _halves(lines, key)
        out.append(f"- {name}: highest {_mb(first)} MB in the first half, {_mb(second)} MB in "
                   f"the second ({(second - first) / first if first else 0:+.1%}).")  # fmt: skip
    out += ["", "| t (s) | RSS MB | traced MB (now / peak) | malloc in use / free kept MB "
            "| objects |", "|---|---|---|---|---|"]  # fmt: skip
    step = max(1, len(lines) // 40)
    for x in lines[::step]:
        malloc = x["malloc"]
        held = f"{_mb(malloc['in_use'])} / {_mb(malloc['free_kept'])}" if malloc else "-"
        objects = x["types"]["(all tracked)"]
        out.append(f"| {x['t']:.0f} | {_mb(x['rss'])} | {_mb(x['traced'])} / "
                   f"{_mb(x['traced_peak'])} | {held} | {objects:,} |")  # fmt: skip
    middle = min(lines, key=lambda x: abs(x["t"] - lines[-1]["t"] / 2))
    out += ["", f"## Objects by type: t={middle['t']:.0f} s and the end", "",
            "| type (most numerous) | middle | end | change |", "|---|---|---|---|"]  # fmt: skip
    was, now = middle["types"], lines[-1]["types"]
    for name in sorted(set(was) & set(now), key=lambda n: -abs(now[n] - was[n])):
        out.append(f"| `{name}` | {was[name]:,} | {now[name]:,} | {now[name] - was[name]:+,} |")
    snaps = [x for x in lines if "lines" in x]
    if len(snaps) >= 2:
        out += _line_growth(min(snaps, key=lambda x: abs(x["t"] - middle["t"])), snaps[-1])
    return "\n".join(out) + "\n"


def _line_growth(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    was = {x["line"]: x["bytes"] for x in before["lines"]}
    now = {x["line"]: x["bytes"] for x in after["lines"]}
    rows = sorted(set(was) | set(now), key=lambda k: -abs(now.get(k, 0) - was.get(k, 0)))
    out = ["", f"## Source lines holding the most: t={before['t']:.0f} s and "
           f"t={after['t']:.0f} s (KB; 0: not among the {LINES} largest then)", "",
           "| line | before | after | change |", "|---|---|---|---|"]  # fmt: skip
    for k in rows[:LINES]:
        b, a = was.get(k, 0), now.get(k, 0)
        out.append(f"| `{k}` | {b / 1024:,.0f} | {a / 1024:,.0f} | {(a - b) / 1024:+,.0f} |")
    return out
