"""Renders the page: the Jinja2 template with the package's CSS and scripts inlined.

The file must open from ``file://`` with no network: every script and style is inlined, and
the data is embedded once as compact JSON in a ``<script type="application/json">`` block.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from ..engine.private import make_dirs
from ..reading import Json, parse_time

_HERE = Path(__file__).parent
SCRIPTS = ("charts.js", "table.js", "report.js")


def embed_json(data: Any) -> str:
    """Compact JSON that cannot end its ``<script>`` block early.

    ``ensure_ascii`` keeps the file valid UTF-8 whatever the store holds (a lone surrogate
    becomes an escape that JSON.parse reads back); ``<`` is escaped so that ``</script>`` or
    ``<!--`` inside test output stays data.
    """
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _static(name: str) -> str:
    return (_HERE / "static" / name).read_text(encoding="utf-8")


def _short(revision: Optional[str]) -> str:
    return (revision or "")[:8]


def _seconds(value: Optional[float]) -> str:
    if value is None:
        return "-"
    if value < 60:
        return f"{value:.2f} s"
    minutes, rest = divmod(round(value), 60)
    return f"{minutes} min {rest} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def _when(value: Optional[str]) -> str:
    """A stored timestamp as ``YYYY-MM-DD HH:MM:SS UTC``."""
    parsed = parse_time(value)
    return parsed.strftime("%Y-%m-%d %H:%M:%S UTC") if parsed else (value or "-")


def render(data: Json) -> str:
    """The whole HTML page for ``data`` (see data.page_data)."""
    import jinja2  # only a run that writes a report pays for loading it

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_HERE / "templates")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["short"] = _short
    env.filters["seconds"] = _seconds
    env.filters["when"] = _when
    template = env.get_template("report.html.j2")
    return template.render(
        data=data,
        session=data["session"],
        targets=data["targets"],
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        css=_static("report.css"),
        scripts=[_static(name) for name in SCRIPTS],
        payload=embed_json(data),
    )


def write_atomically(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all: a browser never sees half a report."""
    make_dirs(path.parent)  # folders we create (.testreport/) are 0700, as everywhere
    fd, tmp = tempfile.mkstemp(prefix=".report-", suffix=".tmp", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
