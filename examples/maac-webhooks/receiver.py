"""A small receiver for the MAAC example: verifies every request with the
``standardwebhooks`` package and prints what it got.

    WEBHOOK_SECRETS=whsec_crm...,whsec_points... python receiver.py [--port 8000]

Any of the comma-separated secrets may match (one per endpoint, or old and new during a
rotation). Answers 204 to a verified request and 401 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def verify(secrets: list[str], body: bytes, headers: dict[str, str]) -> Any:
    """The payload if any secret verifies the request; WebhookVerificationError otherwise."""
    for secret in secrets:
        try:
            return Webhook(secret).verify(body, headers)
        except WebhookVerificationError:
            continue
    raise WebhookVerificationError("no secret verifies this request")


def handler_for(secrets: list[str]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            headers = {name.lower(): value for name, value in self.headers.items()}
            try:
                payload = verify(secrets, body, headers)
            except WebhookVerificationError as exc:
                print(f"REJECTED {self.path}: {exc}", flush=True)
                self.send_response(401)
                self.send_header("content-length", "0")
                self.end_headers()
                return
            print(
                f"{self.path} {headers['webhook-id']} {payload['type']} "
                f"{json.dumps(payload['data'], ensure_ascii=False)}",
                flush=True,
            )
            self.send_response(204)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            return

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    secrets = [s for s in os.environ.get("WEBHOOK_SECRETS", "").split(",") if s]
    if not secrets:
        raise SystemExit("set WEBHOOK_SECRETS to the endpoints' whsec_ secrets")
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler_for(secrets))
    print(f"listening on http://127.0.0.1:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
