"""The fake BrowserStack's JUnit XML upload (``POST /upload``, reference §12).

Choices where the docs are silent:
- the multipart fields ``data`` (the XML file), ``projectName`` and ``buildName`` are required,
  else 400 ``{"success": false, "message": ...}``; ``data`` must be well-formed XML without a
  DOCTYPE whose root is ``<testsuites>`` or ``<testsuite>``, else 400;
- a file over ``upload_limit`` bytes (default 100 MB, the community spec's [3P]) is a 413;
- uploads with the same ``buildIdentifier`` make one build (as the docs say of split runs);
- the answer is ``{"success": true, "message": "Request to import JUnit reports received"}``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from typing import Optional

from .base import RecordedRequest, Reject, Reply

UPLOAD_LIMIT = 100 * 1024 * 1024


@dataclass
class BsUpload:
    """One accepted upload: its form fields, the file's name and bytes."""

    fields: dict[str, str]
    filename: str
    data: bytes

    @property
    def identifier(self) -> Optional[str]:
        return self.fields.get("buildIdentifier")

    def root(self) -> ET.Element:
        return ET.fromstring(self.data)

    def testcases(self) -> list[ET.Element]:
        return list(self.root().iter("testcase"))


def parse_form(rec: RecordedRequest) -> tuple[dict[str, str], dict[str, tuple[str, bytes]]]:
    """(text fields, file fields) of a multipart/form-data body."""
    content_type = rec.headers.get("Content-Type", "")
    if not content_type.startswith("multipart/form-data"):
        raise Reject(400, f"expected multipart/form-data, got {content_type or 'nothing'}")
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + rec.body)
    if not message.is_multipart():
        raise Reject(400, "a multipart body without parts")
    fields: dict[str, str] = {}
    files: dict[str, tuple[str, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            files[str(name)] = (filename, payload)
        else:
            fields[str(name)] = payload.decode("utf-8")
    return fields, files


def accept_upload(rec: RecordedRequest, limit: int = UPLOAD_LIMIT) -> BsUpload:
    """Check an upload the way the fake's rules say; raises ``Reject`` when refused."""
    fields, files = parse_form(rec)
    if "data" not in files:
        raise Reject(400, "data: a JUnit XML file is required")
    for name in ("projectName", "buildName"):
        if not fields.get(name):
            raise Reject(400, f"{name} is required")
    filename, data = files["data"]
    if len(data) > limit:
        raise Reject(413, f"data: the file is larger than {limit} bytes")
    if b"<!DOCTYPE" in data:
        raise Reject(400, "data: a DOCTYPE is not accepted")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise Reject(400, f"data: not well-formed XML: {exc}") from None
    if root.tag not in ("testsuites", "testsuite"):
        raise Reject(400, f"data: not a JUnit report (root <{root.tag}>)")
    return BsUpload(fields, filename, data)


def upload_reply() -> Reply:
    return Reply(200, {"success": True, "message": "Request to import JUnit reports received"})
