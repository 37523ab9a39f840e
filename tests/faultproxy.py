"""A small HTTP proxy of our own in front of moto's S3 server that fails the requests a
plan picks (throttling, server errors, denied reads), for the fault tests."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit


def s3_error(status: int, code: str, message: str) -> tuple[int, bytes]:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        "<RequestId>fault-proxy</RequestId></Error>"
    )
    return status, body.encode()


SLOW_DOWN = s3_error(503, "SlowDown", "Please reduce your request rate.")
INTERNAL = s3_error(500, "InternalError", "We encountered an internal error. Please try again.")

#: Decides, per request (method, path with query, request number), whether to fail it.
Plan = Callable[[str, str, int], "tuple[int, bytes] | None"]


class FaultyProxy:
    """Forwards HTTP requests to ``upstream``, failing those ``plan`` picks.

    ``page_size`` forces small ListObjectsV2 pages (``max-keys``), so a few objects
    make a paginated listing whose later pages can fail.
    """

    def __init__(self, upstream: str, plan: Plan, page_size: int | None = None) -> None:
        self.upstream = urlsplit(upstream)
        self.plan = plan
        self.page_size = page_size
        self.requests: list[str] = []
        self.failed: list[str] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = proxy._rewrite(self.path)
                with proxy._lock:
                    number = len(proxy.requests)
                    proxy.requests.append(f"{self.command} {path}")
                fault = proxy.plan(self.command, path, number)
                if fault is not None:
                    with proxy._lock:
                        proxy.failed.append(f"{self.command} {path}")
                    status, payload = fault
                    self.send_response(status)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                upstream = http.client.HTTPConnection(
                    proxy.upstream.hostname, proxy.upstream.port, timeout=30
                )
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                    headers["Host"] = proxy.upstream.netloc
                    upstream.request(self.command, path, body=body, headers=headers)
                    response = upstream.getresponse()
                    payload = response.read()
                finally:
                    upstream.close()
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def _rewrite(self, path: str) -> str:
        parts = urlsplit(path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        if self.page_size and query.get("list-type") == "2":
            query["max-keys"] = str(self.page_size)
            return parts.path + "?" + urlencode(query)
        return path

    @contextmanager
    def running(self) -> Iterator[FaultyProxy]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()
            thread.join(timeout=10)
