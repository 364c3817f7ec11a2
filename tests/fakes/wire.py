"""HTTP plumbing of the fakes: recorded requests, replies, body decoding, resets."""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import struct
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Optional

from requests.structures import CaseInsensitiveDict

_SECRET_HEADERS = ("authorization", "proxy-authorization")


class MaskedHeaders(CaseInsensitiveDict):
    """Request headers; the ``Authorization`` value is kept but never shown in a repr."""

    def __repr__(self) -> str:
        shown = {k: ("***" if k.lower() in _SECRET_HEADERS else v) for k, v in self.items()}
        return repr(shown)


@dataclass(eq=False)
class RecordedRequest:
    """One request as the fake received it (body already gunzipped) and what it answered."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: MaskedHeaders
    body: bytes
    content_encoding: Optional[str]
    received_at: float
    status: Optional[int] = None  # None: reset, never answered
    fault: Optional[str] = None  # injected fault kind, "slow" for a slow (but processed) answer
    answered_at: Optional[float] = None
    response: Any = None  # decoded JSON (or text) of the answer
    error: Optional[str] = None  # why the service rejected it (or a fake's traceback)

    @property
    def json(self) -> Any:
        """The decoded JSON body (raises ``ValueError`` when it is not JSON)."""
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @property
    def accepted(self) -> bool:
        """Answered 2xx, i.e. the service processed it (slow answers included)."""
        return self.status is not None and 200 <= self.status < 300

    def param(self, name: str, default: Optional[str] = None) -> Optional[str]:
        values = self.query.get(name)
        return values[0] if values else default

    def __repr__(self) -> str:
        fault = f", fault={self.fault}" if self.fault else ""
        return f"<{self.method} {self.path} -> {self.status}{fault}>"


@dataclass
class Reply:
    """An answer: ``body`` dict/list is sent as JSON, str as text, bytes as is."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class Reject(Exception):
    """Raised by handlers and validators: answer ``status`` with the service's error shape."""

    def __init__(self, status: int, message: str, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.body = body


def json_body(rec: RecordedRequest, *, empty: Any = None, status: int = 400) -> Any:
    """The request's JSON body; ``empty`` (if not None) stands for a missing body."""
    if not rec.body.strip():
        if empty is not None:
            return empty
        raise Reject(status, "A JSON request body is required")
    ctype = rec.headers.get("Content-Type", "")
    if "json" not in ctype.lower():
        raise Reject(415, f"Content-Type must be application/json, got {ctype or 'nothing'!r}")
    try:
        return json.loads(rec.body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise Reject(status, f"Request body is not valid UTF-8: {exc}") from None
    except ValueError as exc:
        raise Reject(status, f"Request body is not valid JSON: {exc}") from None


def read_body(h: BaseHTTPRequestHandler) -> bytes:
    if "chunked" in h.headers.get("Transfer-Encoding", "").lower():
        chunks = []
        while True:
            size = int(h.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while h.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(h.rfile.read(size))
            h.rfile.readline()
    length = int(h.headers.get("Content-Length") or 0)
    return h.rfile.read(length) if length else b""


def decode_body(raw: bytes, encoding: Optional[str]) -> bytes:
    enc = (encoding or "identity").strip().lower()
    try:
        if enc == "gzip":
            return gzip.decompress(raw)
        if enc == "deflate":
            return zlib.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise Reject(400, f"Body is not valid {enc}: {exc}") from None
    if enc != "identity":
        raise Reject(415, f"Unsupported Content-Encoding {encoding!r}")
    return raw


def write_reply(h: BaseHTTPRequestHandler, reply: Reply) -> None:
    body = reply.body
    ctype = "application/json; charset=utf-8"
    if body is None:
        data = b""
    elif isinstance(body, bytes):
        data, ctype = body, "application/octet-stream"
    elif isinstance(body, str):
        data, ctype = body.encode("utf-8"), "text/plain; charset=utf-8"
    else:
        data = json.dumps(body).encode("utf-8")
    try:
        h.send_response(reply.status)
        if data:
            h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(data)))
        for key, value in reply.headers.items():
            h.send_header(key, value)
        h.end_headers()
        if data and h.command != "HEAD":
            h.wfile.write(data)
        h.wfile.flush()
    except OSError:  # the client gave up (read timeout) or went away
        h.close_connection = True


def abort(conn: socket.socket, rfile: Any = None, shutdown: bool = False) -> None:
    """Drop a connection with a TCP RST (SO_LINGER 0) instead of an answer."""
    with contextlib.suppress(OSError):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    try:
        if shutdown:
            conn.shutdown(socket.SHUT_RDWR)
            return
        if rfile is not None:
            rfile.close()
        conn.close()
    except OSError:
        pass
