"""A real TCP proxy on loopback that can break connections the way a network does.

It forwards bytes between a client and Label Studio. Armed with a request
marker, it lets the matching request reach the server and then cuts the
connection before the client sees the response: the server did the work, the
client saw a reset. That fault is what push must survive without duplicates.
"""

from __future__ import annotations

import socket
import threading
from types import TracebackType


class BreakingProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self._server = socket.socket()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(16)
        self.port = int(self._server.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._marker: bytes | None = None
        self._breaks_left = 0
        self.broken = 0  # how many responses were cut
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def break_after(self, marker: bytes, times: int = 1) -> None:
        """Cut the response to the next ``times`` requests whose first bytes contain ``marker``."""
        with self._lock:
            self._marker, self._breaks_left = marker, times

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(self.upstream)
        cut = threading.Event()

        def client_to_upstream() -> None:
            try:
                while data := client.recv(65536):
                    with self._lock:
                        if self._marker and self._breaks_left > 0 and self._marker in data:
                            self._breaks_left -= 1
                            cut.set()
                    upstream.sendall(data)
            except OSError:
                pass
            finally:
                _close(upstream)

        threading.Thread(target=client_to_upstream, daemon=True).start()
        try:
            while data := upstream.recv(65536):
                if cut.is_set():
                    # The server answered, so it processed the request: drop the answer.
                    with self._lock:
                        self.broken += 1
                    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    break
                client.sendall(data)
        except OSError:
            pass
        finally:
            _close(client)
            _close(upstream)

    def close(self) -> None:
        self._closed = True
        _close(self._server)

    def __enter__(self) -> BreakingProxy:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def _close(sock: socket.socket) -> None:
    try:
        # shutdown, not just close: another thread may be blocked reading this socket,
        # and only shutdown ends the connection for the peer at once.
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class NonsenseProxy:
    """A real HTTP proxy on loopback that forwards to Label Studio, except that the answers to
    requests whose path matches ``nonsense_for`` (a regular expression) are replaced by ``body``
    with status 200: a server, or something posing as one, answering nonsense.

    ``paths`` records the method and path (without query) of every request it forwarded.
    A request whose method and path (``POST /api/...``) match ``stall_for`` is held (``stalled`` is set) until ``release``
    is set, as a server busy for minutes would hold it.
    """

    def __init__(self, upstream_port: int, body: bytes = b"null") -> None:
        import http.server
        import re

        import httpx

        proxy = self
        self.body = body
        self.nonsense_for: re.Pattern[str] | None = None
        self.stall_for: re.Pattern[str] | None = None
        self.stalled, self.release = threading.Event(), threading.Event()
        self.paths: list[tuple[str, str]] = []
        self.replaced = 0
        upstream = httpx.Client(base_url=f"http://127.0.0.1:{upstream_port}", timeout=120)

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                proxy.paths.append((self.command, path))
                if proxy.stall_for is not None and proxy.stall_for.search(f"{self.command} {path}"):
                    proxy.stalled.set()
                    proxy.release.wait(120)
                if proxy.nonsense_for is not None and proxy.nonsense_for.search(path):
                    proxy.replaced += 1
                    status, headers, content = 200, [("Content-Type", "application/json")], proxy.body
                else:
                    skip = {"host", "content-length", "connection", "accept-encoding"}
                    sent = {k: v for k, v in self.headers.items() if k.lower() not in skip}
                    answer = upstream.request(self.command, self.path, headers=sent, content=data)
                    status, content = answer.status_code, answer.content
                    # multi_items: each Set-Cookie on its own, as the server sent them
                    headers = [(k, v) for k, v in answer.headers.multi_items()
                               if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding")]
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _any

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._upstream = upstream
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
        self._upstream.close()

    def __enter__(self) -> NonsenseProxy:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
