"""Small Markdown helpers: masked and escaped text, links and GitHub-flavoured tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional
from urllib.parse import quote

from ..engine.secrets import Secret, mask

MAX_CELL = 300  # characters of one cell's text
# Characters that would start emphasis, code, links, HTML or entities, or end a table cell.
_SPECIAL = frozenset("\\`*_[]<>|~&")


class Raw(str):
    """Markdown these helpers made already (a list of links): used in a cell as it is."""


class Markdown:
    """Builds Markdown from untrusted text: every value is masked, then escaped."""

    def __init__(self, secrets: Sequence[Secret] = ()) -> None:
        self.secrets = list(secrets)

    def text(self, value: Any) -> str:
        """One line, masked, Markdown characters escaped; ``-`` when empty."""
        if isinstance(value, Raw):
            return str(value)
        text = mask("" if value is None else str(value), self.secrets)
        text = " ".join(text.split())  # a newline or tab would end the row
        if len(text) > MAX_CELL:
            text = text[: MAX_CELL - 1] + "…"
        return "".join("\\" + c if c in _SPECIAL else c for c in text) or "-"

    def link(self, label: str, url: Optional[str]) -> str:
        """``[label](url)``; without an http(s) URL, the label alone."""
        if not url or not url.startswith(("https://", "http://")):
            return self.text(label)
        # What would end the destination or the cell is percent-encoded.
        safe = quote(mask(url, self.secrets), safe=":/?#@!$&'*+,;=%-._~")
        return f"[{self.text(label)}]({safe})"

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[Any]],
              links: Optional[int] = None) -> list[str]:  # fmt: skip
        """A table's lines; column ``links`` holds URLs, each shown as a link to itself."""
        lines = ["| " + " | ".join(self.text(h) for h in headers) + " |",
                 "|" + "|".join(" --- " for _ in headers) + "|"]  # fmt: skip
        for row in rows:
            cells = [
                (self.link(str(v), v) if v else "-") if i == links else self.text(v)
                for i, v in enumerate(row)
            ]
            lines.append("| " + " | ".join(cells) + " |")
        return lines
