"""The bulk lane: the whole session as one JUnit XML upload, right after the last test.

The target holds every result back until the end of the session (the engine hands them over
as one batch, see ``BULK_BATCH``), then uploads them (``junit``). Results are never taken as
delivered before the upload was confirmed: until then the pytest process keeps them (the
delivery process acknowledges nothing), and a failed or late upload is spooled like any batch,
with the parts already confirmed in its ``progress``, for ``replay`` to upload the rest once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from ...engine.errors import AmbiguousError
from ...model import Session, TestResult
from . import junit as bsjunit
from .reader import answer

if TYPE_CHECKING:
    from ...engine.http import HttpClient
    from .config import BrowserStackConfig

# The sender takes at most a batch at a time and wakes for a full one: a batch no session
# fills keeps every result waiting until the session's end, when all of them go at once.
BULK_BATCH = 10**9
BULK_AGE = float(10**9)
_LINK_KEYS = ("build_url", "dashboard_url", "public_url", "url")


class BulkLane:
    """Uploads a session's results as JUnit XML; remembers the answer's link, if any."""

    def __init__(self, config: BrowserStackConfig, http: HttpClient) -> None:
        self.config = config
        self.http = http
        self.link: Optional[str] = None
        self.uploads = 0  # requests confirmed by the service

    def upload(self, session: Session, results: list[TestResult], build_name: str,
               progress: dict[str, Any]) -> None:  # fmt: skip
        """Upload every part not confirmed yet; ``progress["parts"]`` lists the confirmed ones.

        The parts are a pure function of the results, so a spooled batch splits the same way on
        replay. An upload whose answer was lost is sent again by replay with the same build
        identifier, which BrowserStack documents as grouping uploads of one build: a possible
        duplicate import within the build beats a lost session.
        """
        config = self.config
        fields = bsjunit.form_fields(session, config.project, build_name, config.build_tags,
                                     bsjunit.build_identifier(session))  # fmt: skip
        documents = bsjunit.documents(session, results)
        done: list[int] = progress.setdefault("parts", [])
        for index, document in enumerate(documents):
            if index in done:
                continue
            name = f"pytest-{session.uuid[:8]}-{index + 1}.xml"
            form = bsjunit.multipart(fields, document, name)
            try:
                response = self.http.request("POST", config.upload_url, form=form,
                                             idempotent=False)  # fmt: skip
            except AmbiguousError:
                progress["maybe_sent"] = index  # said in the journal; replay sends it again
                raise
            data = answer(response, "POST upload")
            for key in _LINK_KEYS:
                value = data.get(key)
                if isinstance(value, str) and value.startswith("http"):
                    self.link = value
                    break
            done.append(index)
            self.uploads += 1
