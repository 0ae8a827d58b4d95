"""A real HTTP server in a thread that answers like the Hugging Face Hub for files it holds.

``huggingface_hub`` is pointed at it with ``HF_ENDPOINT`` (read when huggingface_hub is imported, so the
client runs in a fresh interpreter). ``HEAD`` and ``GET`` of ``/<repo_id>/resolve/<revision>/<filename>``
answer with the headers ``get_hf_file_metadata`` reads: ``X-Repo-Commit``, ``X-Linked-Etag`` (an LFS file's
sha256, quoted), ``X-Linked-Size``, ``ETag`` and ``Content-Length``; ``GET`` sends the bytes. Every request is
recorded as ``(method, path)``.

Example:
    >>> import hashlib, urllib.request
    >>> with HubServer() as hub:
    ...     url = hub.add("org/net", "model.safetensors", b"abc")
    ...     request = urllib.request.Request(url, method="HEAD")
    ...     etag = urllib.request.urlopen(request, timeout=5).headers["X-Linked-Etag"]
    >>> etag == f'"{hashlib.sha256(b"abc").hexdigest()}"', hub.requests
    (True, [('HEAD', '/org/net/resolve/main/model.safetensors')])
"""

from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

COMMIT = "89abcdef0123456789abcdef0123456789abcdef"


class HubServer:
    """``ThreadingHTTPServer`` on ``127.0.0.1`` serving Hub files ``{path: (bytes, etag)}``."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, str]] = {}
        self.requests: list[tuple[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_HEAD(self) -> None:
                self._answer(send_body=False)

            def do_GET(self) -> None:
                self._answer(send_body=True)

            def _answer(self, send_body: bool) -> None:
                server.requests.append((self.command, self.path))
                found = server.files.get(self.path.split("?", 1)[0])
                if found is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("X-Error-Message", "Entry not found")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                payload, etag = found
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("X-Linked-Etag", f'"{etag}"')
                self.send_header("X-Linked-Size", str(len(payload)))
                self.send_header("ETag", f'"{etag}"')
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if send_body:
                    self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="hub-server", daemon=True)

    @property
    def endpoint(self) -> str:
        """What ``HF_ENDPOINT`` is set to."""
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def add(
        self, repo_id: str, filename: str, payload: bytes, *, etag: str | None = None, revision: str = "main"
    ) -> str:
        """Serve ``payload`` as ``repo_id``'s ``filename`` with ``etag`` (default: its sha256, as for an LFS file)."""
        path = f"/{repo_id}/resolve/{revision}/{filename}"
        self.files[path] = (payload, hashlib.sha256(payload).hexdigest() if etag is None else etag)
        return self.endpoint + path

    def __enter__(self) -> HubServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)
