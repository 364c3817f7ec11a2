"""FakeService: a loopback HTTP server that routes, records every request and injects faults."""

from __future__ import annotations

import re
import socket
import threading
import time
import traceback
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, ClassVar, Optional
from urllib.parse import parse_qs, urlsplit

from .faults import FaultsMixin
from .wire import (
    MaskedHeaders,
    RecordedRequest,
    Reject,
    Reply,
    abort,
    decode_body,
    json_body,
    read_body,
    write_reply,
)

__all__ = ["FakeService", "RecordedRequest", "Reject", "Reply", "Route", "json_body"]

Handler = Callable[..., Reply]


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    auth: str


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, port: int, fake: FakeService) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", port), _RequestHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Dropped connections are expected here (resets, outages, client timeouts)."""


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # headers and body go out in separate writes: without this, Nagle plus delayed ACK
        # would add ~40 ms to every answer and distort timing (benchmark latency, timeouts)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.fake._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.fake._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: nothing (and no Authorization header) is ever printed."""

    def _dispatch(self) -> None:
        self.server.fake._serve(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _dispatch


class FakeService(FaultsMixin):
    """Base of the fakes: ``ThreadingHTTPServer`` on 127.0.0.1, random port, daemon thread.

    Subclasses register routes with :meth:`route`, implement :meth:`authenticate` and
    :meth:`error_body`, and call :meth:`start` at the end of their ``__init__``.
    """

    prefix: ClassVar[str] = ""  # path prefix of ``url`` (the real base URL's path)

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[RecordedRequest] = []
        self.errors: list[str] = []  # tracebacks of bugs in a fake (should stay empty)
        self.lock = threading.RLock()  # guards the service state; handlers run under it
        self._routes: list[Route] = []
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None
        self._listen_lock = threading.Lock()
        self.port = 0
        self._stopped = False

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> FakeService:
        self._stopped = False
        self._start_listening()
        return self

    def stop(self) -> None:
        self._stopped = True  # a pending outage timer must not listen again
        self.release()
        with self._fault_lock:
            timer, self._outage_timer = self._outage_timer, None
            self._outage_mode = None
        if timer is not None:
            timer.cancel()
        self._stop_listening()

    def __enter__(self) -> FakeService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT`` (no path)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The base URL to configure (origin plus the API's path prefix)."""
        return self.origin + self.prefix

    def _start_listening(self) -> None:
        with self._listen_lock:
            if self._server is not None or self._stopped:
                return
            deadline = time.monotonic() + 5.0
            while True:
                try:
                    server = _Server(self.port, self)
                    break
                except OSError:  # same port still busy right after an outage: try again
                    if not self.port or time.monotonic() > deadline:
                        raise
                    time.sleep(0.02)
            self.port = server.server_address[1]
            self._server = server
            self._thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.02},
                name=f"{type(self).__name__}-{self.port}",
                daemon=True,
            )
            self._thread.start()

    def _listening(self) -> bool:
        return self._server is not None or self._stopped

    def _stop_listening(self) -> None:
        with self._listen_lock:
            server, self._server = self._server, None
            thread, self._thread = self._thread, None
            if server is None:
                return
            server.shutdown()
            server.server_close()
            if thread is not None:
                thread.join(timeout=5)
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:  # a server that went away takes its keep-alive connections with it
            abort(conn, shutdown=True)

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._conns_lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    # -- routing ---------------------------------------------------------------------------------
    def route(self, method: str, pattern: str, handler: Handler, auth: str = "default") -> None:
        """Register ``handler(rec, **groups) -> Reply`` for a full-path regex."""
        self._routes.append(Route(method, re.compile(pattern), handler, auth))

    def authenticate(self, rec: RecordedRequest, route: Route) -> Optional[Reply]:
        """Return a reply to refuse the request (401), ``None`` to let it through."""
        return None

    def error_body(self, status: int, message: str) -> Any:
        """The service's error shape."""
        return {"message": message}

    def response_headers(self, rec: RecordedRequest, reply: Reply) -> dict[str, str]:
        """Headers added to every answer (e.g. rate-limit information)."""
        return {}

    def unauthorized_body(self) -> Any:
        return self.error_body(401, "Unauthorized")

    def fault_reply_body(self, status: int) -> Any:
        messages = {429: "Too Many Requests", 401: "Unauthorized", 503: "Service Unavailable"}
        return self.error_body(status, messages.get(status, f"Injected HTTP {status}"))

    # -- recorded requests -----------------------------------------------------------------------
    @property
    def accepted(self) -> list[RecordedRequest]:
        """Every request the service processed with a 2xx answer."""
        return [r for r in self.requests if r.accepted]

    def matching(
        self,
        method: Optional[str] = None,
        path: Optional[str] = None,
        accepted: Optional[bool] = None,
    ) -> list[RecordedRequest]:
        """Recorded requests by method, path regex (``re.search``) and acceptance."""
        rx = re.compile(path) if path else None
        return [
            r
            for r in list(self.requests)
            if (method is None or r.method == method)
            and (rx is None or rx.search(r.path))
            and (accepted is None or r.accepted == accepted)
        ]

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0) -> bool:
        """Poll ``predicate`` until it is true or ``timeout`` passes; returns the last result."""
        deadline = time.monotonic() + timeout
        while True:
            if predicate():
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)

    # -- serving ---------------------------------------------------------------------------------
    def _serve(self, h: _RequestHandler) -> None:
        received = time.monotonic()
        split = urlsplit(h.path)
        headers = MaskedHeaders(h.headers.items())
        rec = RecordedRequest(
            method=h.command,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers=headers,
            body=b"",
            content_encoding=headers.get("Content-Encoding"),
            received_at=received,
        )
        bad_body = None
        try:
            rec.body = decode_body(read_body(h), rec.content_encoding)
        except Reject as exc:
            bad_body = exc
        self.requests.append(rec)
        decision = self._decide(rec.path)
        if decision.kind == "hang":  # a service that took the request and never answers
            self._released.wait(120)
        if decision.kind in ("reset", "outage", "hang"):
            rec.fault = decision.kind
            rec.answered_at = time.monotonic()
            h.close_connection = True
            abort(h.connection, rfile=h.rfile)
            return
        if decision.answers_instead:
            rec.fault = decision.kind
            body = decision.body
            if body is None:
                body = self.fault_reply_body(decision.status or 500)
            reply = Reply(decision.status or 500, body, dict(decision.headers))
        elif bad_body is not None:
            reply = Reply(bad_body.status, self.error_body(bad_body.status, bad_body.message))
            rec.error = bad_body.message
        else:
            reply = self._process(rec)
            if decision.kind == "lost":  # processed; the client never hears the answer
                rec.fault, rec.status, rec.response = "lost", reply.status, reply.body
                rec.answered_at = time.monotonic()
                h.close_connection = True
                abort(h.connection, rfile=h.rfile)
                return
            if decision.slow:
                rec.fault = "slow"
        for key, value in self.response_headers(rec, reply).items():
            reply.headers.setdefault(key, value)
        rec.status = reply.status
        rec.response = reply.body
        if decision.delay:
            time.sleep(decision.delay)
        rec.answered_at = time.monotonic()
        write_reply(h, reply)

    def _process(self, rec: RecordedRequest) -> Reply:
        allowed = []
        for route in self._routes:
            match = route.pattern.fullmatch(rec.path)
            if match is None:
                continue
            if route.method != rec.method:
                allowed.append(route.method)
                continue
            refused = self.authenticate(rec, route)
            if refused is not None:
                rec.error = f"refused: HTTP {refused.status}"
                return refused
            try:
                with self.lock:
                    return route.handler(rec, **match.groupdict())
            except Reject as exc:
                rec.error = exc.message
                body = (
                    exc.body if exc.body is not None else self.error_body(exc.status, exc.message)
                )
                return Reply(exc.status, body)
            except Exception:
                rec.error = traceback.format_exc()
                self.errors.append(rec.error)
                return Reply(500, self.error_body(500, "fake service bug (see .errors)"))
        if allowed:
            rec.error = "method not allowed"
            return Reply(
                405, self.error_body(405, "Method Not Allowed"), {"Allow": ", ".join(allowed)}
            )
        rec.error = "not found"
        return Reply(404, self.error_body(404, "Not Found"))
