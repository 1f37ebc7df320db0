"""The soak's judgement of memory and of its log, on made-up samples (the soak itself,
``python -m benchmarks.soak``, is a benchmark of minutes, not a test).

The memory series are shaped as the soak measured the service: a warm-up while the bounded
caches fill, then a saw-tooth (a cache filled and emptied every couple of minutes)."""

from __future__ import annotations

from benchmarks.soak import FLAT, log_problems, logged_at, unexplained
from benchmarks.soak_watch import Sample, growth

MB = 2**20
RUN_S = 600
HALF_S = RUN_S / 2


def rss(t: float, leak_mb_per_hour: float = 0.0) -> float:
    """54 MB at the start, 71 MB once warm (after 4 minutes), and a swing of 5 MB every two
    minutes, plus the leak (the soak measured 6 minutes of warm-up with a rise of 22 MB, then
    swings between 71.4 and 76.5 MB for 24 minutes)."""
    warm = 54 + 17 * min(t, 240) / 240
    swing = 5 * (t % 120) / 120
    return (warm + swing + leak_mb_per_hour * t / 3600) * MB


def samples(leak_mb_per_hour: float = 0.0) -> list[Sample]:
    return [Sample(t, rss_service=int(rss(t, leak_mb_per_hour))) for t in range(0, RUN_S + 1, 5)]


def service_rss(s: Sample) -> float:
    return s.rss_service


def test_a_swinging_series_is_flat_once_warm() -> None:
    g = growth(samples(), service_rss, HALF_S)
    assert g.flat(FLAT["rss"])
    assert g.low < g.start  # it swings well below its high-water mark, and that is fine


def test_a_leak_of_40_mb_an_hour_is_not_flat() -> None:
    g = growth(samples(leak_mb_per_hour=40), service_rss, HALF_S)
    assert not g.flat(FLAT["rss"])
    assert g.rise > FLAT["rss"]


def test_a_slack_lets_a_small_count_rise() -> None:
    fds = [Sample(t, fds_service=300 + (t >= HALF_S) * 8) for t in range(0, RUN_S + 1, 5)]
    g = growth(fds, lambda s: s.fds_service, HALF_S)
    assert not g.flat(0.01)
    assert g.flat(0.01, slack=10)


def test_too_few_samples_are_not_judged_as_growth() -> None:
    g = growth(samples()[:2], service_rss, HALF_S)
    assert (g.start, g.end, g.rise) == (0.0, 0.0, 0.0)


def test_a_retried_redis_call_is_told_apart_from_other_log_problems() -> None:
    log = [
        "2026-12-01 17:25:40,001 INFO counter.serve: serving on http://127.0.0.1:8080\n",
        "2026-12-01 17:25:47,295 WARNING counter.storage: read polls soak failed (Timeout "
        "reading from /x/redis.sock); retry 1/3 in 0.05s\n",
        "2026-12-01 17:25:48,000 ERROR counter.storage: flush failed after 4 attempts: x\n",
        "Traceback (most recent call last):\n",
        "2026-12-01 17:25:49,000 WARNING counter.web: something else\n",
    ]
    retried, other = log_problems(log)
    assert len(retried) == 1
    assert "retry 1/3" in retried[0]
    assert [line.split(" ", 3)[2] for line in other[::2]] == ["ERROR", "WARNING"]
    assert other[1] == "Traceback (most recent call last):"
    assert logged_at(retried[0]) == logged_at("2026-12-01 17:25:47,999 INFO x") > 0


def test_only_retries_after_a_stall_of_the_disk_are_explained() -> None:
    stalls = [
        {"kind": "aof-fsync-always", "at": 1_000, "ms": 2_400},
        {"kind": "command", "at": 2_000, "ms": 3_000},  # a slow command: the service's doing
    ]
    retried_at = {"998": 40, "1003": 2, "2001": 5, "3000": 1}
    assert unexplained(retried_at, stalls) == 5 + 1
    assert unexplained({}, stalls) == 0
    assert unexplained({"1000": 3}, []) == 3
