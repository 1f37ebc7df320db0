"""The HTTP server layer: aiohttp's protocol with the service's limits and its one error shape.

aiohttp answers what its parser refuses (a URL too long, headers too large or too many, a
malformed request line, an unknown method) in ``RequestHandler.handle_error``: a plain-text
400 that echoes the request line, logged with the client's address and a traceback. It also
waits for ever for a client that sends half a request. :class:`Connection` (one per client
connection, made by :class:`CounterServer`, which :class:`CounterRunner` puts behind
``counter serve``) instead

- answers each refusal with :func:`~counter.web.errors.error_answer` (``414``, ``431``,
  ``400``, ``501``), counts it (``counter_limited_total{limit="protocol"}``) and logs nothing;
- closes a connection whose request head is not complete ``COUNTER_HEADER_TIMEOUT_S`` after
  its first byte (or after the connection opened), and answers ``408`` to a request whose body
  is not complete ``COUNTER_BODY_TIMEOUT_S`` after its head (just closing when an answer is
  already under way); idle keep-alive connections close after ``COUNTER_KEEPALIVE_TIMEOUT_S``
  (aiohttp's own timer);
- closes at once, and counts, a connection beyond ``COUNTER_MAX_CONNECTIONS``.

:class:`AcceptErrors` keeps a process that runs out of descriptors from flooding its log.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import re
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.http import RawRequestMessage
from aiohttp.http_exceptions import (
    BadHttpMessage,
    BadHttpMethod,
    HttpProcessingError,
    LineTooLong,
)
from aiohttp.streams import StreamReader
from aiohttp.web_protocol import ERROR as REFUSED

from counter.appkeys import METRICS
from counter.errors import ApiError
from counter.instruments import Instruments
from counter.settings import Settings
from counter.web.errors import INTERNAL, error_answer, status_error

log = logging.getLogger(__name__)

TOO_MANY_HEADERS = "Too many headers received"
"""The parser's words (C and Python alike) for more than ``max_headers`` header lines."""
REQUEST_LINE = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+ [^ ]+ HTTP/\d\.\d\r?")
"""A well-formed request line: what the parser refused in it can only be the method."""
LINE_SLACK = 64
"""Bytes of a request line besides its URL (method, spaces, version) kept to tell a long URL
from a long header."""
RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
REPORT_EVERY_S = 10.0
"""At most one log line per this interval while accepting connections fails."""


def url_too_long(head: bytes, max_url_bytes: int) -> bool:
    """Whether a line too long in ``head`` (the start of a request head) is its URL, rather
    than one of its headers."""
    line, newline, _ = head.partition(b"\n")
    if not newline:
        return True  # the request line had not ended when the parser gave up
    parts = line.split(b" ")
    return len(parts[1] if len(parts) > 1 else line) > max_url_bytes


def refusal(exc: BaseException | None, head: bytes, max_url_bytes: int) -> ApiError:
    """The error answering a request the parser refused with ``exc`` (``head``: the start of
    the refused request's head, to tell a long URL from long headers and an unknown method
    from garbage). Never the words of the request itself: a refusal echoes nothing."""
    if isinstance(exc, LineTooLong):
        return status_error(414 if url_too_long(head, max_url_bytes) else 431)
    if isinstance(exc, BadHttpMessage) and exc.message == TOO_MANY_HEADERS:
        return status_error(431)
    if isinstance(exc, BadHttpMethod) and REQUEST_LINE.fullmatch(head.partition(b"\n")[0]):
        return status_error(501)
    return status_error(400)


class Connection(web.RequestHandler):
    """One client connection: aiohttp's protocol, with deadlines and JSON refusals.

    One timer per connection follows the current deadline (the head's, then the body's); it
    is moved, not rescheduled, on every request, as aiohttp's keep-alive timer is.
    """

    __slots__ = ("_body", "_deadline", "_head", "_owner", "_refused_head", "_timer")

    def __init__(self, owner: CounterServer, **kwargs: Any) -> None:
        super().__init__(owner, **kwargs)
        self._owner = owner
        self._head: bytes | None = None
        """The start of the request head being received; None between requests."""
        self._refused_head = b""
        self._body: StreamReader | None = None
        """The body being received, until it is complete."""
        self._deadline: float | None = None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        owner = self._owner
        if owner.open >= owner.max_connections:
            # Refused before aiohttp knows of it: nothing to shut down, nothing counted open.
            self._manager = None
            self._force_close = True
            transport.close()
            owner.instruments.refused("connections")
            return
        super().connection_made(transport)
        self._head = b""
        self._until(owner.header_timeout_s)

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._head = self._body = self._deadline = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._force_close or self._close:
            return
        head = self._head
        if head is not None and len(head) < self._owner.head_sample and b"\n" not in head:
            head = self._head = head + data  # a head in pieces: keep its first line
        count = self._request_count
        super().data_received(data)
        if self._request_count != count:
            self._parsed(data if head is None else head)
        elif self._body is not None:
            if self._body.is_eof():
                self._body = self._deadline = None
        elif head is None:  # the next request's head began, and is not complete yet
            self._head = data
            self._until(self._owner.header_timeout_s)

    def _parsed(self, head: bytes) -> None:
        """A request head was parsed (or refused): the body's deadline, if it has one. A
        request that comes whole in one piece, the usual case, costs no timer work."""
        message, payload = self._messages[-1]
        if not isinstance(message, RawRequestMessage):
            self._refused_head = head
        self._head = None
        if payload.is_eof():
            self._body = self._deadline = None
        else:
            self._body = payload
            self._until(self._owner.body_timeout_s)

    def _until(self, timeout_s: float) -> None:
        when = self._loop.time() + timeout_s
        self._deadline = when
        timer = self._timer
        if timer is None or timer.when() > when:
            if timer is not None:
                timer.cancel()
            self._timer = self._loop.call_at(when, self._expire)

    def _expire(self) -> None:
        self._timer = None
        deadline = self._deadline
        if deadline is None or self.transport is None:
            return
        if self._loop.time() < deadline:
            self._timer = self._loop.call_at(deadline, self._expire)
            return
        self._deadline = None
        if self._head is not None:
            self._head_late()
        elif self._body is not None:
            self._body_late(self._body)

    def _head_late(self) -> None:
        """A head not complete in time: a slow (or silent) client; closed without an answer."""
        if self._head:  # a connection that never sent a byte is just closed
            self._owner.instruments.refused("header_timeout")
        self._head = None
        if self._request_in_progress:
            self.close()  # a pipelined head: after the answer under way
        else:
            self.force_close()

    def _body_late(self, body: StreamReader) -> None:
        """A body not complete in time: ``408`` through the handler reading it, or a close."""
        self._body = None
        self._owner.instruments.refused("body_timeout")
        request = self._current_request
        if request is None or request.content is not body or request.writer.output_size:
            self.force_close()
            return
        # The handler's read raises the error, which its guard answers; then the connection
        # closes instead of waiting (lingering) for the rest of the body.
        self._lingering_time = 0.0
        self.close()
        body.set_exception(status_error(408))

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """The JSON error for what the parser refused (or, for a bug, the 500), never logged
        with the client's address."""
        if isinstance(exc, HttpProcessingError):
            error = refusal(exc, self._refused_head, self._owner.max_url_bytes)
            self._owner.instruments.refused("protocol")
        else:
            log.error("unhandled error on %s %s", request.method, request.path, exc_info=exc)
            error = INTERNAL if status == 500 else status_error(status)
        if request.writer.output_size > 0:
            raise ConnectionError("an answer was under way; the connection is closed")
        answer = error_answer(request, error)
        answer.force_close()
        return answer


class CounterServer(web.Server):
    """aiohttp's server for an app, making :class:`Connection` protocols and counting them."""

    def __init__(self, made: web.Server, settings: Settings, instruments: Instruments) -> None:
        # ``made`` is the server aiohttp built for the app, with the app's handler arguments.
        app_request = made.request_factory

        def request_factory(message: RawRequestMessage, *args: Any) -> web.BaseRequest:
            # What the parser refused is no request of the app (no route, no app state).
            if message is REFUSED:
                return self._make_request(message, *args)
            return app_request(message, *args)

        super().__init__(
            made.request_handler,
            request_factory=request_factory,
            handler_cancellation=made.handler_cancellation,
            loop=asyncio.get_running_loop(),
            **made._kwargs,
        )
        self.instruments = instruments
        self.max_connections = settings.max_connections
        self.header_timeout_s = float(settings.header_timeout_s)
        self.body_timeout_s = float(settings.body_timeout_s)
        self.max_url_bytes = settings.max_url_bytes
        self.head_sample = settings.max_url_bytes + LINE_SLACK
        self.open = 0
        """Client connections open now."""

    def __call__(self) -> Connection:
        return Connection(self, loop=self._loop, **self._kwargs)

    def connection_made(self, handler: web.RequestHandler, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        self.open += 1
        self.instruments.connections(self.open)

    def connection_lost(
        self, handler: web.RequestHandler, exc: BaseException | None = None
    ) -> None:
        super().connection_lost(handler, exc)
        self.open -= 1
        self.instruments.connections(self.open)


class CounterRunner(web.AppRunner):
    """``counter serve``'s runner: the app behind :class:`CounterServer`, with the limits of
    ``settings``. Its ``cleanup()`` is the stop: listeners closed, idle connections closed,
    ``on_shutdown`` (live streams end), requests in flight answered for up to
    ``COUNTER_SHUTDOWN_TIMEOUT_S``, then the app's cleanup contexts (flush, Redis clients,
    embedded server)."""

    __slots__ = ("settings",)

    def __init__(self, app: web.Application, settings: Settings) -> None:
        super().__init__(
            app,
            shutdown_timeout=float(settings.shutdown_timeout_s),
            keepalive_timeout=float(settings.keepalive_timeout_s),
            max_line_size=settings.max_url_bytes,
            max_field_size=settings.max_header_bytes,
            max_headers=settings.max_headers,
            lingering_time=float(settings.body_timeout_s),
        )
        self.settings = settings

    @property
    def open_connections(self) -> int:
        server = self.server
        return server.open if isinstance(server, CounterServer) else 0

    async def _make_server(self) -> web.Server:
        return CounterServer(await super()._make_server(), self.settings, self.app[METRICS])


class AcceptErrors:
    """The loop's exception handler: accept() failing for lack of descriptors (``EMFILE``) is
    counted (``counter_limited_total{limit="descriptors"}``) and logged at most once per
    ``REPORT_EVERY_S``, where asyncio's loop would log a traceback for every attempt, many a
    second. (uvloop's loop does not report these: libuv accepts and closes such connections.)
    Anything else goes to the default handler."""

    def __init__(
        self, instruments: Instruments, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.instruments = instruments
        self.clock = clock
        self.failed = 0
        """Failures since the last line logged."""
        self._quiet_until = float("-inf")

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if _retry_after_close(context):
            return
        if not isinstance(exc, OSError) or exc.errno not in RESOURCE_ERRNOS:
            loop.default_exception_handler(context)
            return
        self.instruments.refused("descriptors")
        self.failed += 1
        now = self.clock()
        if now >= self._quiet_until:
            log.warning(
                "cannot accept connections: %s (%d failures since the last report); "
                "raise the descriptor limit (ulimit -n) or lower COUNTER_MAX_CONNECTIONS",
                os.strerror(exc.errno or 0), self.failed,
            )  # fmt: skip
            self.failed = 0
            self._quiet_until = now + REPORT_EVERY_S


def _retry_after_close(context: dict[str, Any]) -> bool:
    """Whether the loop reports one of its own accept() retries that ran after the listener
    closed: asyncio schedules a retry a second after each failed accept (one per connection
    waiting), a stop closes the listener meanwhile, and the retry raises ``ValueError`` for
    its socket's descriptor -1. Nothing is left to retry; it is not worth a traceback."""
    callback = getattr(context.get("handle"), "_callback", None)
    retry = getattr(callback, "__name__", "") == "_start_serving"
    return retry and isinstance(context.get("exception"), ValueError)
