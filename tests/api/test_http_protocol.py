"""``renkei serve``'s HTTP protocol (uvicorn's httptools one, each response's head written
with its body): answers stay whole, streams still get their headers first, HEAD and errors
after the head behave as uvicorn's."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from renkei.api.http_protocol import HttpProtocol, _HeldHead

_release_stream = threading.Event()
_gone: list[str] = []
_gone_done = threading.Event()


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    path = scope["path"]
    if path == "/fixed":
        body = b'{"success":true}'
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"16")],
            }
        )
        await send({"type": "http.response.body", "body": body})
    elif path == "/stream":  # no length: the head must not wait for the body
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await asyncio.get_running_loop().run_in_executor(None, _release_stream.wait, 10)
        await send({"type": "http.response.body", "body": b"late", "more_body": False})
    elif path == "/empty":
        await send(
            {"type": "http.response.start", "status": 204, "headers": [(b"content-length", b"0")]}
        )
        await send({"type": "http.response.body", "body": b""})
    elif path == "/gone":  # the client leaves between the head and the body
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
        )
        while (await receive())["type"] != "http.disconnect":
            pass
        try:
            await send({"type": "http.response.body", "body": b"{}"})
        except Exception as exc:
            _gone.append(repr(exc))
        else:
            _gone.append("sent")
        _gone_done.set()
    elif path == "/broken":  # the head is sent, then the app fails
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]}
        )
        raise RuntimeError("fails after the head")


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            _app, http=HttpProtocol, loop="uvloop", lifespan="off", log_config=None,
            access_log=False,
        )
    )  # fmt: skip
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        threading.Event().wait(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_answers_with_a_length_arrive_whole_on_a_kept_connection(base_url: str) -> None:
    with httpx.Client(base_url=base_url) as client:
        for _ in range(3):  # the same connection: each response's transport is restored
            response = client.post("/fixed", content=b"{}")
            assert response.status_code == 200
            assert response.json() == {"success": True}
            assert response.headers["content-length"] == "16"
        assert client.get("/empty").status_code == 204


def test_a_head_request_gets_the_head(base_url: str) -> None:
    with httpx.Client(base_url=base_url) as client:
        response = client.head("/fixed")
        assert response.status_code == 200
        assert response.headers["content-length"] == "16"
        assert response.content == b""
        assert client.post("/fixed").json() == {"success": True}  # the connection goes on


def test_a_stream_gets_its_headers_before_its_body(base_url: str) -> None:
    _release_stream.clear()
    with (
        httpx.Client(base_url=base_url, timeout=10) as client,
        client.stream("GET", "/stream") as response,
    ):
        # The app is still waiting for the release: the head came alone.
        assert response.status_code == 200
        assert response.headers["transfer-encoding"] == "chunked"
        _release_stream.set()
        assert response.read() == b"late"


def test_an_app_failing_after_the_head_closes_the_connection(base_url: str) -> None:
    with httpx.Client(base_url=base_url) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.get("/broken")
        assert client.post("/fixed").json() == {"success": True}


def test_a_client_gone_before_the_body_is_no_error(base_url: str) -> None:
    """As uvicorn's own: sending to a client that left is quietly nothing."""
    port = int(base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as client:
        client.sendall(b"GET /gone HTTP/1.1\r\nhost: x\r\n\r\n")
    assert _gone_done.wait(10)
    assert _gone == ["sent"]


class _Transport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)


def test_the_head_is_written_with_the_body_in_one_write() -> None:
    transport = _Transport()
    held = _HeldHead(transport)
    held.write(b"HTTP/1.1 200 OK\r\n\r\n")
    assert transport.writes == []
    held.write(b"body")
    held.flush()
    assert transport.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
