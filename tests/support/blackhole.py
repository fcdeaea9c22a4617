"""A TCP proxy on 127.0.0.1 that can stop forwarding: a database that stops answering.

``with BlackholeProxy("127.0.0.1", 5432) as proxy:`` forwards every connection to the
target until told otherwise:

- ``proxy.blackhole()``: from now on nothing is forwarded in either direction; open
  connections stay open (their bytes are read and dropped) and new connections are
  accepted but never connected to the target, so a client waits for an answer that
  never comes;
- ``proxy.cut_when_sent(b"INSERT INTO events")``: a connection whose client sends bytes
  holding that marker is closed (both sides) instead of forwarding them: a connection cut
  in the middle of a transaction (``proxy.cut_when_sent(None)`` stops cutting);
- ``proxy.forward()``: forward again (connections opened from then on).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Literal

Mode = Literal["forward", "blackhole"]


class BlackholeProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.mode: Mode = "forward"
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._cut_marker: bytes | None = None

    @property
    def host_port(self) -> str:
        return f"127.0.0.1:{self.port}"

    def blackhole(self) -> None:
        self.mode = "blackhole"

    def cut_when_sent(self, marker: bytes | None) -> None:
        self._cut_marker = marker

    def forward(self) -> None:
        self.mode = "forward"

    def __enter__(self) -> BlackholeProxy:
        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        self.port = started.result(timeout=10)
        return self

    def __exit__(self, *_: object) -> None:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            if self.mode != "forward":
                await _drain_forever(reader)
                return
            up_reader, up_writer = await asyncio.open_connection(*self.target)
            self._writers.add(up_writer)
            try:
                await asyncio.gather(
                    self._pump(reader, up_writer, writer, from_client=True),
                    self._pump(up_reader, writer, up_writer, from_client=False),
                )
            finally:
                self._writers.discard(up_writer)
                up_writer.transport.abort()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            writer.transport.abort()

    async def _pump(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        other: asyncio.StreamWriter,
        *,
        from_client: bool,
    ) -> None:
        while chunk := await source.read(65536):
            marker = self._cut_marker
            if from_client and marker is not None and marker in chunk:
                sink.transport.abort()
                other.transport.abort()
                return
            if self.mode != "forward":
                continue  # read and dropped: the other side waits forever
            sink.write(chunk)
            await sink.drain()
        sink.transport.abort()
        other.transport.abort()


async def _drain_forever(reader: asyncio.StreamReader) -> None:
    while await reader.read(65536):
        pass
