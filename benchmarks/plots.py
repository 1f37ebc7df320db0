"""PNG plots of one run (matplotlib, no GUI backend): throughput, latency, batch sizes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from benchmarks.e2e import NAMES

COLORS = {"a": "tab:blue", "b": "tab:gray", "c": "tab:orange", "A": "tab:cyan", "B": "tab:olive"}


def _finish(ax: Any, has_data: bool, log: str, **labels: str) -> None:
    """Labels, log axes and a legend, or a note that the section did not run."""
    ax.set(**labels)
    if not has_data:
        ax.text(0.5, 0.5, "section not run", ha="center", transform=ax.transAxes)
        return
    if "x" in log:
        ax.set_xscale("log")
    if "y" in log:
        ax.set_yscale("log")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)


def throughput(data: dict[str, Any], path: Path) -> None:
    fig = Figure(figsize=(12, 4.5))
    left, right = fig.subplots(1, 2)
    sweep = data.get("e2e", {}).get("sweep", [])
    for key in ("a", "b", "c") if sweep else ():
        xs, ys = [r["connections"] for r in sweep], [r[key]["rps"] for r in sweep]
        left.plot(xs, ys, "o-", color=COLORS[key], label=NAMES[key])
    _finish(left, bool(sweep), "x", xlabel="concurrent connections", ylabel="requests/s",
            title="End to end: HTTP request mix")  # fmt: skip
    micro = data.get("micro", [])
    for sites in (1, 100):
        for mode, style in (("batch", "o-"), ("naive", "s--")):
            rows = [r for r in micro if r["sites"] == sites and r["mode"] == mode]
            xs, ys = [r["callers"] for r in rows], [r["hits_per_s"] for r in rows]
            if rows:
                right.plot(xs, ys, style, label=f"{sites} site(s), {mode}")
    _finish(right, bool(micro), "xy", xlabel="concurrent callers", ylabel="hits/s",
            title="Counting path in process: GroupCommit -> Redis")  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def latency(data: dict[str, Any], path: Path) -> None:
    fig = Figure(figsize=(12, 4.5))
    left, right = fig.subplots(1, 2)
    e2e = data.get("e2e", {})
    median, half = e2e.get("median", {}), e2e.get("half_rate", {})
    bars = [(f"{k}, saturated", median[k]) for k in "abAB" if k in median]
    bars += [(f"{k} at {half['rate']:,.0f} req/s", half[k]) for k in "ab" if k in half]
    for i, pct in enumerate(("p50", "p90", "p99")):
        xs = [n + (i - 1) * 0.25 for n in range(len(bars))]
        left.bar(xs, [b[1][pct] for b in bars], 0.25, label=pct, alpha=0.4 + 0.3 * i)
    left.set_xticks(range(len(bars)), [b[0] for b in bars], fontsize=8)
    if bars:
        left.axhline(5, color="red", lw=0.8, ls=":", label="5 ms target")
    _finish(left, bool(bars), "", ylabel="ms",
            title="Latency percentiles (a counter, b plain aiohttp, c naive)")  # fmt: skip
    sweep = e2e.get("sweep", [])
    for key in ("a", "b", "c") if sweep else ():
        xs, ys = [r["connections"] for r in sweep], [r[key]["p99"] for r in sweep]
        right.plot(xs, ys, "o-", color=COLORS[key], label=f"{NAMES[key]} p99")
    _finish(right, bool(sweep), "xy", xlabel="concurrent connections", ylabel="p99, ms",
            title="p99 against concurrency")  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def batches(data: dict[str, Any], path: Path) -> None:
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    rows = [r for r in data.get("micro", []) if r["mode"] == "batch" and r["callers"] > 1]
    for n, row in enumerate(rows):
        hist = row["batch_size"]["histogram"]
        xs = [i + n * 0.4 for i in range(len(hist))]
        label = f"{row['callers']} callers, {row['sites']} sites"
        ax.bar(xs, list(hist.values()), 0.4, label=label)
        ax.set_xticks(range(len(hist)), [f"<={b}" for b in hist])
    _finish(ax, bool(rows), "", xlabel="events per flush", ylabel="flushes",
            title="Group-commit batch sizes (in process)")  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def write_all(data: dict[str, Any], stem: Path) -> list[Path]:
    paths = []
    for name, draw in (("throughput", throughput), ("latency", latency), ("batches", batches)):
        path = stem.with_name(f"{stem.name}-{name}.png")
        draw(data, path)
        paths.append(path)
    return paths
