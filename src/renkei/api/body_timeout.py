"""A deadline for reading request bodies, on every route (``RENKEI_BODY_TIMEOUT_SECONDS``).

uvicorn waits for a request body as long as the client keeps the connection open: a client
that sends its headers and part of the body, then nothing, would hold a connection and a
request task for ever. :class:`BodyTimeout` wraps the whole ASGI app (outside the tracking
API's and publishing's fast paths too): the body must arrive within the deadline, counted
from the headers, or the request is answered ``408 request_timeout`` (JSON, with
``Connection: close``) and the app sees a disconnect, so it stores nothing.

Only reading the body is timed: once the last chunk has arrived, the app's later
``receive()`` calls (waiting for a disconnect) are passed through untouched. The tracking
API is a hot path, so there is no timer per request, and a body uvicorn has already read
whole is not watched at all; a request still waiting for its body sits in a dict, and one
sweeper task (running only while some request waits) wakes a few times per timeout and
cancels the reads that are past their deadline. A stalled request is
answered within the timeout plus a quarter of it (at most a second).
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyTimeout"]

_DISCONNECT: Message = {"type": "http.disconnect"}


class BodyTimeout:
    def __init__(self, app: ASGIApp, *, seconds: float) -> None:
        self.app = app
        self.seconds = seconds
        self.body = orjson.dumps(
            {
                "error": {
                    "code": "request_timeout",
                    "message": f"the request body did not arrive within {seconds:g} seconds",
                    "details": {"timeout_seconds": seconds},
                }
            }
        )
        self.reading: dict[_TimedRequest, float] = {}
        """Requests waiting for their body → their deadline (``loop.time()``)."""
        self.sweeper: asyncio.Task[None] | None = None
        self.interval = min(1.0, seconds / 4)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _body_complete(receive):
            await self.app(scope, receive, send)
            return
        request = _TimedRequest(self, receive, send)
        try:
            await self.app(scope, request.receive, request.send)
        except Exception:
            if not request.timed_out:
                raise
            # What the app made of the disconnect we reported is of no consequence: the
            # client has its answer.

    def watch(self, request: _TimedRequest) -> None:
        self.reading[request] = request.deadline
        if self.sweeper is None or self.sweeper.done():
            self.sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        while self.reading:
            await asyncio.sleep(self.interval)
            now = loop.time()
            for request, deadline in list(self.reading.items()):
                if deadline <= now:
                    del self.reading[request]
                    request.expire()


def _body_complete(receive: Receive) -> bool:
    """Whether uvicorn already holds the whole body: it reads ahead before calling the app, so
    a small body has usually arrived with its headers, and then there is nothing to time (the
    tracking API's requests skip the bookkeeping). Another server, or a body still arriving,
    gets the deadline."""
    cycle = getattr(receive, "__self__", None)
    return getattr(cycle, "more_body", True) is False


class _TimedRequest:
    __slots__ = ("_receive", "_send", "deadline", "done", "expired", "guard", "started", "task")
    __hash__ = object.__hash__

    def __init__(self, guard: BodyTimeout, receive: Receive, send: Send) -> None:
        self.guard = guard
        self._receive = receive
        self._send = send
        self.deadline = asyncio.get_running_loop().time() + guard.seconds
        self.task: asyncio.Task[Any] | None = None  # the one reading (middlewares may fork)
        self.done = False  # the whole body has arrived
        self.started = False  # the app has started its answer
        self.expired = False  # the sweeper found it past its deadline

    @property
    def timed_out(self) -> bool:
        return self.expired

    def expire(self) -> None:
        self.expired = True
        if self.task is not None:
            self.task.cancel()

    async def receive(self) -> Message:
        if self.done:
            return await self._receive()
        if self.expired:
            return _DISCONNECT
        guard = self.guard
        self.task = asyncio.current_task()
        guard.watch(self)
        try:
            message = await self._receive()
        except asyncio.CancelledError:
            if not self.expired or self.task is None or self.task.uncancel() > 0:
                raise  # cancelled by someone else (shutdown)
            await self._answer_timeout()
            return _DISCONNECT
        finally:
            guard.reading.pop(self, None)
        if message["type"] != "http.request" or not message.get("more_body", False):
            self.done = True
        return message

    async def send(self, message: Message) -> None:
        if self.expired:
            return  # the 408 is the answer
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)

    async def _answer_timeout(self) -> None:
        if self.started:
            return
        body = self.guard.body
        headers: list[tuple[bytes, bytes]] = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            (b"access-control-allow-origin", b"*"),
        ]
        await self._send({"type": "http.response.start", "status": 408, "headers": headers})
        await self._send({"type": "http.response.body", "body": body})
