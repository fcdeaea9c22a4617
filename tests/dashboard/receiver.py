"""A webhook receiver on loopback that verifies each request with the ``standardwebhooks``
package, as an engineer's receiver would: 204 when the signature holds, 401 when not."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook


@dataclass
class Received:
    verified: bool
    payload: Any


@dataclass
class Receiver:
    secret: str | None = None
    received: list[Received] = field(default_factory=list)
    url: str = ""

    def handle(self, body: bytes, headers: dict[str, str]) -> int:
        try:
            if self.secret is None:
                raise ValueError("no secret given to the receiver yet")
            payload = Webhook(self.secret).verify(body, headers)
        except Exception:
            self.received.append(Received(False, None))
            return 401
        self.received.append(Received(True, payload))
        return 200


class _Handler(BaseHTTPRequestHandler):
    receiver: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        status = self.receiver.handle(body, {k.lower(): v for k, v in self.headers.items()})
        answer = b'{"ok": true}' if status == 200 else b'{"error": "bad signature"}'
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *_: Any) -> None:
        pass


class RunningReceiver:
    def __init__(self) -> None:
        self.receiver = Receiver()
        handler = type("Handler", (_Handler,), {"receiver": self.receiver})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.receiver.url = f"http://127.0.0.1:{self.server.server_address[1]}/maac"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self.receiver

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()
