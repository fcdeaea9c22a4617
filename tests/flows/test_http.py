"""Flow actions' outbound HTTP and its SSRF guard (the deliveries' policy), against a real
receiver on loopback."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from renkei.flows.http import HttpRequest, HttpSender
from renkei.settings import Settings
from tests.flows.receivers import Receiver


def sender(**settings: Any) -> HttpSender:
    return HttpSender(Settings(secret_key=["k" * 44], **settings), timeout=5.0)


def get(url: str) -> HttpRequest:
    return HttpRequest("GET", url, {}, None)


async def test_loopback_is_refused_by_default_and_nothing_is_sent(target: Receiver) -> None:
    guarded = sender(allow_private_targets=False)
    try:
        literal = await guarded.send(get(target.url + "/report"))
        named = await guarded.send(get(target.url.replace("127.0.0.1", "localhost") + "/report"))
    finally:
        await guarded.close()
    assert literal.status is None and "refused target" in (literal.error or "")
    assert "loopback" in (literal.error or "")
    assert named.status is None and "refused target" in (named.error or "")
    assert target.requests == []


async def test_loopback_is_reached_when_private_targets_are_allowed(target: Receiver) -> None:
    target.answer("/report", (200, {"rows": 3}))
    allowed = sender(allow_private_targets=True)
    try:
        response = await allowed.send(get(target.url + "/report"))
    finally:
        await allowed.close()
    assert (response.status, response.body) == (200, {"rows": 3})
    assert [request.path for request in target.requests] == ["/report"]


async def test_cloud_metadata_and_other_schemes_stay_refused() -> None:
    allowed = sender(allow_private_targets=True)
    try:
        metadata = await allowed.send(get("http://169.254.169.254/latest/meta-data/"))
        azure = await allowed.send(get("http://168.63.129.16/machine"))
        ftp = await allowed.send(get("ftp://example.com/file"))
    finally:
        await allowed.close()
    assert "cloud metadata" in (metadata.error or "")
    assert "cloud metadata" in (azure.error or "")
    assert ftp.status is None and "only http and https" in (ftp.error or "")


async def test_cookies_a_target_sets_are_not_sent_back() -> None:
    """Flow actions of different users may call the same host: no session state between calls."""
    seen: list[str | None] = []

    class SetsCookie(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("cookie"))
            self.send_response(200)
            self.send_header("set-cookie", "session=abc; Path=/")
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), SetsCookie)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    allowed = sender(allow_private_targets=True)
    try:
        url = f"http://localhost:{server.server_port}/account"
        first = await allowed.send(get(url))
        second = await allowed.send(get(url))
    finally:
        await allowed.close()
        server.shutdown()
        server.server_close()
    assert (first.status, second.status) == (200, 200)
    assert first.headers["set-cookie"].startswith("session=abc")
    assert seen == [None, None]
