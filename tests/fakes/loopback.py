"""The lifecycle every simple fake shares: a threaded HTTP server on 127.0.0.1, a free port, a clean stop."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class LoopbackServer:
    """Serve `handler` on 127.0.0.1:<free port> in a thread; use as a context manager."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], *, join_handlers: bool = False) -> None:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        # With join_handlers, server_close() waits for handler threads: none outlives a test.
        self._httpd.daemon_threads = not join_handlers
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()
