"""Streams: open live streams per client and in total, and their bounded lifetime."""

from __future__ import annotations

import asyncio

import pytest

from counter.errors import ApiError
from counter.web.streams import JITTER, Streams
from tests.recorder import Recorder


def _streams(recorder: Recorder, *, per_client: int = 2, total: int = 3) -> Streams:
    return Streams(
        per_client=per_client, total=total, max_s=900, instruments=recorder, rng=lambda: 0.5
    )


async def test_a_client_over_its_share_is_429_and_the_process_over_its_total_503() -> None:
    recorder = Recorder()
    streams = _streams(recorder)
    with streams.open("a", "poll", "demo"), streams.open("a", "poll", "demo"):
        with pytest.raises(ApiError) as per_client, streams.open("a", "stats", "demo"):
            pass
        assert per_client.value.status == 429
        assert per_client.value.code == "too_many_streams"
        assert int(per_client.value.headers["Retry-After"]) >= 1
        with streams.open("b", "poll", "demo"):
            with pytest.raises(ApiError) as total, streams.open("c", "poll", "demo"):
                pass
            assert total.value.status == 503
            assert int(total.value.headers["Retry-After"]) >= 1
        assert (streams.open_now, streams.held_by("a"), streams.held_by("b")) == (2, 2, 0)
    assert (streams.open_now, streams.held_by("a")) == (0, 0)
    assert recorder.refusals == [("streams_per_client", "demo", 1), ("streams_total", "demo", 1)]
    with streams.open("a", "poll", "demo"):  # freed slots can be taken again
        assert streams.open_now == 1


async def test_a_slot_is_freed_when_its_stream_fails() -> None:
    streams = _streams(Recorder(), per_client=1)
    with pytest.raises(ConnectionResetError), streams.open("a", "poll", "demo"):
        raise ConnectionResetError
    with streams.open("a", "poll", "demo"):
        assert streams.held_by("a") == 1


async def test_a_stream_is_told_to_end_when_its_jittered_lifetime_is_over() -> None:
    recorder = Recorder()
    streams = Streams(per_client=5, total=5, max_s=0.05, instruments=recorder)
    ended = asyncio.Event()
    with streams.open("a", "poll", "demo") as slot:
        assert (1 - JITTER) * 0.05 <= slot.lifetime_s <= 0.05
        assert 2000 <= slot.reconnect_ms <= 5000
        slot.on_expiry(ended.set)
        await ended.wait()
        assert slot.expired
    assert recorder.refusals == [("stream_lifetime", "demo", 1)]


async def test_a_stream_that_ends_first_is_never_told_to_end() -> None:
    recorder = Recorder()
    streams = Streams(per_client=5, total=5, max_s=0.05, instruments=recorder)
    with streams.open("a", "poll", "demo") as slot:
        pass
    later = Streams(per_client=5, total=5, max_s=0.1, instruments=Recorder())
    done = asyncio.Event()
    with later.open("b", "poll", "demo") as witness:  # outlives the first one's lifetime
        witness.on_expiry(done.set)
        await done.wait()
    assert not slot.expired
    assert recorder.refusals == []
