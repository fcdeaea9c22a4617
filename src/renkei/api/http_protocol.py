"""uvicorn's httptools protocol, writing each response's head and body in one system call.

uvicorn writes a response's status line and headers when the app sends
``http.response.start``, then its body at ``http.response.body``: two ``send()`` calls, two
TCP segments, and on the client's side two wake-ups, for every answer. The tracking API
answers ``{"success":true}`` to thousands of requests a second, so the second system call
was a visible part of its cost (a py-spy profile of ``renkei serve`` under single-event
``/v1/track`` load put a fifth of the GIL's time in uvicorn's ``send``; docs/benchmarks.md).

:class:`HttpProtocol` keeps the head of a response that declares its ``content-length``
and writes it with the first body chunk, normally sent right after it. A response without
a length (streamed, chunked) is written as uvicorn does, head first, so a client of a slow
stream still sees its headers at once. Everything else is uvicorn's.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

__all__ = ["HttpProtocol"]


class _HeldHead:
    """Stands for the connection's transport while a response's head waits for its body:
    the first write (the head) is kept and joined to the next one."""

    __slots__ = ("head", "transport")

    def __init__(self, transport: Any) -> None:
        self.transport = transport
        self.head: bytes | None = None

    def write(self, data: bytes) -> None:
        if self.head is None:
            self.head = data
        else:
            head, self.head = self.head, b""
            self.transport.write(head + data)

    def flush(self) -> None:
        if self.head:
            self.transport.write(self.head)
        self.head = b""

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)  # close(), is_closing(), ...


class _Cycle(RequestResponseCycle):
    async def send(self, message: Any) -> None:
        transport = self.transport
        if isinstance(transport, _HeldHead):
            try:
                await super().send(message)  # the body: written with the head
            finally:
                self.transport = transport.transport
                if not self.disconnected:  # a closed transport refuses writes
                    transport.flush()  # a HEAD request's body writes nothing
            return
        if (
            message["type"] == "http.response.start"
            and not self.response_started
            and _declares_length(message)
        ):
            held = _HeldHead(transport)
            self.transport = held  # type: ignore[assignment]  # stands for it, see _HeldHead
            try:
                await super().send(message)
            except BaseException:
                self.transport = transport
                raise
            if held.head is None:  # nothing written (a client gone): nothing to hold
                self.transport = transport
            return
        await super().send(message)


def _declares_length(message: Any) -> bool:
    return any(name.lower() == b"content-length" for name, _ in message.get("headers", ()))


class HttpProtocol(HttpToolsProtocol):
    """``uvicorn.Config(http=HttpProtocol)``: uvicorn's httptools protocol, see the module."""

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        cycle.__class__ = _Cycle  # before its task runs: the app gets _Cycle.send
        super()._start_asgi_task(cycle, app)
