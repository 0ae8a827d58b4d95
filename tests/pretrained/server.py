"""A real HTTP server in a thread, serving generated weights files, that misbehaves on request.

Each served path has a behaviour:

- ``ok``: the file, with its ``Content-Length``;
- ``corrupt``: other bytes of the same length;
- ``truncate``: announces the whole length, sends half, closes the connection;
- ``short``: sends half without announcing a length, then closes (a truncated file, as far as HTTP knows);
- ``overflow``: sends the file and as many bytes again, without a length;
- ``stall``: announces the whole length, sends half, then hangs until the server stops.

Every request is counted (``requests``), so a test can prove that nothing was downloaded.

Example:
    >>> import urllib.request
    >>> with WeightsServer() as server:
    ...     url = server.serve("a.bin", b"abc")
    ...     body = urllib.request.urlopen(url, timeout=5).read()
    >>> body, server.requests
    (b'abc', ['/a.bin'])
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

Behaviour = Literal["ok", "corrupt", "truncate", "short", "overflow", "stall"]


class WeightsServer:
    """``ThreadingHTTPServer`` on ``127.0.0.1`` (a free port) serving ``{path: (bytes, behaviour)}``."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, Behaviour]] = {}
        self.requests: list[str] = []
        self.released = threading.Event()
        self.stalled = threading.Event()
        """Set when a ``stall`` response has sent its first half."""
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                found = server.files.get(self.path)
                if found is None:
                    self.send_error(404, "no such file")
                    return
                payload, behaviour = found
                half = payload[: len(payload) // 2]
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                if behaviour in ("ok", "corrupt", "truncate", "stall"):
                    self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if behaviour == "ok":
                    self.wfile.write(payload)
                elif behaviour == "corrupt":
                    self.wfile.write(bytes((byte + 1) % 256 for byte in payload))
                elif behaviour in ("truncate", "short"):
                    self.wfile.write(half)
                elif behaviour == "overflow":
                    self.wfile.write(payload + payload)
                elif behaviour == "stall":
                    self.wfile.write(half)
                    self.wfile.flush()
                    server.stalled.set()
                    server.released.wait(30)
                self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="weights-server", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def serve(self, name: str, payload: bytes, behaviour: Behaviour = "ok") -> str:
        """Serve ``payload`` at ``/<name>``; returns its URL."""
        self.files[f"/{name}"] = (payload, behaviour)
        return f"{self.base_url}/{name}"

    def start(self) -> WeightsServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.released.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)

    def __enter__(self) -> WeightsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
