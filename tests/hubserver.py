"""A small local server that serves repository files the way the Hugging Face Hub does
(``/<org>/<name>/resolve/<revision>/<file>``, HEAD and GET, with the ``X-Repo-Commit`` and
``ETag`` headers and the Hub's error codes), for the opt-in Hub look-up tests."""

from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class HubServer:
    """Serves ``repos[repo_id][filename] = bytes``; records every request path."""

    def __init__(self, repos: dict[str, dict[str, bytes]], token: str | None = None) -> None:
        self.repos = repos
        self.token = token
        self.requests: list[tuple[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, with_body: bool) -> None:
                server.requests.append((self.command, self.path))
                parts = self.path.split("?")[0].strip("/").split("/")
                if len(parts) < 5 or parts[2] != "resolve":
                    self.send_response(404)
                    self.end_headers()
                    return
                repo_id, filename = f"{parts[0]}/{parts[1]}", "/".join(parts[4:])
                if server.token and self.headers.get("authorization") != f"Bearer {server.token}":
                    self.send_response(401)
                    self.send_header("X-Error-Code", "RepoNotFound")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                files = server.repos.get(repo_id)
                if files is None or filename not in files:
                    self.send_response(404)
                    code = "RepoNotFound" if files is None else "EntryNotFound"
                    self.send_header("X-Error-Code", code)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = files[filename]
                commit = hashlib.sha1(repo_id.encode()).hexdigest()
                self.send_response(200)
                self.send_header("X-Repo-Commit", commit)
                self.send_header("ETag", '"' + hashlib.sha1(body).hexdigest() + '"')
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                if with_body:
                    self.wfile.write(body)

            def do_HEAD(self) -> None:
                self._answer(False)

            def do_GET(self) -> None:
                self._answer(True)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> HubServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @staticmethod
    def commit(repo_id: str) -> str:
        """The revision the server reports for a repository."""
        return hashlib.sha1(repo_id.encode()).hexdigest()
