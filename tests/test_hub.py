"""The hub's own lifecycle: what stop() closes."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable

from renkei.core import Core
from renkei.flows.http import HttpRequest
from renkei.hub import Hub
from tests.connectors.harness import http_connection
from tests.support.server import test_settings as settings_for


async def test_stop_runs_every_closer_even_after_one_fails(database_url: str) -> None:
    hub = Core(settings_for(database_url))
    closed: list[str] = []

    def closer(name: str, *, fails: bool = False) -> Callable[[], Awaitable[None]]:
        async def close() -> None:
            closed.append(name)
            if fails:
                raise RuntimeError("already gone")

        return close

    hub.closers += [closer("first", fails=True), closer("second")]
    await hub.start(with_worker=False)
    await hub.stop()
    assert closed == ["first", "second"]


class KeepAliveServer:
    """A minimal HTTP/1.1 server on loopback, in a thread, that keeps connections open
    and counts how many are open."""

    def __init__(self) -> None:
        self.open = 0
        self.accepted = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> KeepAliveServer:
        self._thread.start()
        self._started.wait(10)
        return self

    def __exit__(self, *_: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._started.set()
        self._loop.run_forever()
        server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open += 1
        self.accepted += 1
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                length = next(
                    (
                        int(line.split(b":", 1)[1])
                        for line in head.lower().split(b"\r\n")
                        if line.startswith(b"content-length:")
                    ),
                    0,
                )
                await reader.readexactly(length)
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    b"content-length: 2\r\n\r\n{}"
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open -= 1
            writer.close()


async def test_stop_closes_the_connections_that_outbound_clients_keep_open(
    database_url: str,
) -> None:
    hub = Hub(settings_for(database_url))
    await hub.start(with_worker=False)
    with KeepAliveServer() as server:
        url = f"http://127.0.0.1:{server.port}/hook"
        delivered = await hub.webhooks.transport.send(url, {}, b"{}", 5.0)
        flow_call = await hub.flows.sender.send(HttpRequest("POST", url, {}, b"{}"))
        row = await http_connection(hub, "kept-alive", url=url, method="POST", body="{}")
        await hub.connectors.runtime.call(row, "request", {})
        assert (delivered.status, flow_call.status) == (200, 200)
        assert server.open == server.accepted == 3  # one per client, each kept open

        await hub.stop()
        deadline = time.monotonic() + 10
        while server.open and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert server.open == 0


def _committers() -> list[asyncio.Task[object]]:
    return [task for task in asyncio.all_tasks() if task.get_name() == "renkei-ingest-committer"]


async def test_start_opens_the_ingest_committers_and_stop_ends_them(database_url: str) -> None:
    hub = Hub(settings_for(database_url))
    await hub.start(with_worker=False)
    assert len(_committers()) == hub.ingest.committer.committers
    await hub.stop()
    assert _committers() == []
