"""Streams: open live streams per client and in total, and their bounded lifetime."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from counter.errors import ApiError
from counter.web.streams import JITTER, Streams
from tests.recorder import Recorder

A, B, C = "203.0.113.1", "203.0.113.2", "203.0.113.3"


def _streams(recorder: Recorder, *, per_client: int = 2, total: int = 3) -> Streams:
    return Streams(
        per_client=per_client, total=total, max_s=900, instruments=recorder, rng=lambda: 0.5
    )


async def test_a_client_over_its_share_is_429_and_the_process_over_its_total_503() -> None:
    recorder = Recorder()
    streams = _streams(recorder)
    with streams.open(A, "poll", "demo"), streams.open(A, "poll", "demo"):
        with pytest.raises(ApiError) as per_client, streams.open(A, "stats", "demo"):
            pass
        assert per_client.value.status == 429
        assert per_client.value.code == "too_many_streams"
        assert int(per_client.value.headers["Retry-After"]) >= 1
        with streams.open(B, "poll", "demo"):
            with pytest.raises(ApiError) as total, streams.open(C, "poll", "demo"):
                pass
            assert total.value.status == 503
            assert int(total.value.headers["Retry-After"]) >= 1
        assert (streams.open_now, streams.held_by(A), streams.held_by(B)) == (2, 2, 0)
    assert (streams.open_now, streams.held_by(A)) == (0, 0)
    assert recorder.refusals == [("streams_per_client", "demo", 1), ("streams_total", "demo", 1)]
    with streams.open(A, "poll", "demo"):  # freed slots can be taken again
        assert streams.open_now == 1


async def test_a_slot_is_freed_when_its_stream_fails() -> None:
    streams = _streams(Recorder(), per_client=1)
    with pytest.raises(ConnectionResetError), streams.open(A, "poll", "demo"):
        raise ConnectionResetError
    with streams.open(A, "poll", "demo"):
        assert streams.held_by(A) == 1


async def test_a_stream_is_told_to_end_when_its_jittered_lifetime_is_over() -> None:
    recorder = Recorder()
    streams = Streams(per_client=5, total=5, max_s=0.05, instruments=recorder)
    ended = asyncio.Event()
    with streams.open(A, "poll", "demo") as slot:
        assert (1 - JITTER) * 0.05 <= slot.lifetime_s <= 0.05
        assert 2000 <= slot.reconnect_ms <= 5000
        slot.on_expiry(ended.set)
        await ended.wait()
        assert slot.expired
    assert recorder.refusals == [("stream_lifetime", "demo", 1)]


async def test_a_stream_that_ends_first_is_never_told_to_end() -> None:
    recorder = Recorder()
    streams = Streams(per_client=5, total=5, max_s=0.05, instruments=recorder)
    with streams.open(A, "poll", "demo") as slot:
        pass
    later = Streams(per_client=5, total=5, max_s=0.1, instruments=Recorder())
    done = asyncio.Event()
    with later.open(B, "poll", "demo") as witness:  # outlives the first one's lifetime
        witness.on_expiry(done.set)
        await done.wait()
    assert not slot.expired
    assert recorder.refusals == []


async def test_a_clients_ipv6_64_is_one_client_and_allowlisted_networks_are_exempt() -> None:
    office = (ipaddress.ip_network("198.51.100.0/24"),)
    streams = Streams(per_client=1, total=10, max_s=900, instruments=Recorder(), allowlist=office)
    with streams.open("2001:db8:1:1::1", "poll", "demo"):
        with pytest.raises(ApiError), streams.open("2001:db8:1:1::2", "poll", "demo"):
            pass
        with streams.open("2001:db8:1:2::1", "poll", "demo"):
            assert streams.held_by("2001:db8:1:1::/64") == 1
    with streams.open("198.51.100.7", "poll", "demo"), streams.open("198.51.100.7", "poll", "demo"):
        assert streams.open_now == 2  # a NAT gateway on the allowlist: no per-client cap
