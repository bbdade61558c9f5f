"""A real HTTP receiver for the tests: a ThreadingHTTPServer on 127.0.0.1 (or ::1; a random
free port) that records every request and answers from a script of status codes."""

import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"


class Sink:
    """`replies` are used in order, then `default`; `hold` (an Event) makes handlers wait
    until it is set, e.g. to kill a worker while its request is in flight."""

    def __init__(self, host: str = "127.0.0.1"):
        self.host = host
        self.received: list[Received] = []
        self.replies: list[Reply] = []
        self.default = Reply()
        self.hold: threading.Event | None = None
        self.holding = threading.Event()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.port = 0
        self.start()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/hook"

    def start(self) -> None:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if sink.hold is not None:
                    sink.holding.set()
                    sink.hold.wait(30)
                with sink._lock:
                    sink.received.append(
                        Received(self.command, self.path, dict(self.headers.items()), body)
                    )
                    reply = sink.replies.pop(0) if sink.replies else sink.default
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                try:
                    self.wfile.write(reply.body)
                except ConnectionError:
                    pass  # the client stopped reading (a capped body)

            do_POST = do_PUT = do_PATCH = _handle

            def log_message(self, *args):
                pass

        server_class = ThreadingHTTPServer
        if ":" in self.host:
            server_class = type("ThreadingHTTPServer6", (ThreadingHTTPServer,), {})
            server_class.address_family = socket.AF_INET6
        self._server = server_class((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        # A short poll interval: stop() (every test's teardown) waits up to one interval.
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def stop(self) -> None:
        """Go down: connections to the port are refused until start() again."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait_for(self, count: int, timeout: float = 20) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.02)
        raise AssertionError(f"sink got {len(self.received)} requests, expected {count}")
