"""Tests of the fake services themselves: real HTTP over loopback with plain ``requests``."""

from __future__ import annotations

import gzip
import json
import socket
import time
from collections.abc import Iterator
from typing import Any, Callable

import pytest
import requests

from tests.fakes import FakeBrowserStack, FakeBuddy, FakeBuildkite, FakeService, Reply
from tests.fakes import samples as s
from tests.fakes.base import RecordedRequest, json_body

# Each fake's own tests live next to it (tests/fakes/selftest_*.py, not collected on their own);
# importing them here makes `pytest tests/test_fakes.py` run every test of the fakes, once.
_SELFTESTS = [f"tests.fakes.selftest_{name}" for name in ("browserstack", "buddy", "buildkite")]
pytest.register_assert_rewrite(*_SELFTESTS)  # plain asserts there still explain failures
from tests.fakes.selftest_browserstack import *  # noqa: E402, F403
from tests.fakes.selftest_buddy import *  # noqa: E402, F403
from tests.fakes.selftest_buildkite import *  # noqa: E402, F403


class CounterFake(FakeService):
    """Minimal service for the fault layer: ``POST /items`` stores, ``GET /items`` lists."""

    def __init__(self) -> None:
        super().__init__()
        self.items: list[Any] = []
        self.route("POST", r"/items", self._add)
        self.route("GET", r"/items", lambda rec: Reply(200, {"items": self.items}))
        self.start()

    def _add(self, rec: RecordedRequest) -> Reply:
        self.items.append(json_body(rec))
        return Reply(201, {"n": len(self.items)})


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False  # never through a proxy: loopback only
        yield session


@pytest.fixture
def counter() -> Iterator[CounterFake]:
    with CounterFake() as fake:
        yield fake


def post(http: requests.Session, fake: CounterFake, i: int = 0, **kw: Any) -> requests.Response:
    return http.post(fake.url + "/items", json={"i": i}, timeout=kw.pop("timeout", 2), **kw)


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


# -- base service and faults ---------------------------------------------------------------------
def test_records_every_detail_and_masks_auth(counter: CounterFake, http: requests.Session) -> None:
    body = gzip.compress(json.dumps({"a": 1}).encode())
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    r = http.post(
        counter.url + "/items?x=1&x=2",
        data=body,
        headers={**headers, "Authorization": "Bearer s3cret"},
    )
    assert r.status_code == 201
    (rec,) = counter.requests
    assert (rec.method, rec.path, rec.query) == ("POST", "/items", {"x": ["1", "2"]})
    assert rec.json == {"a": 1} and rec.content_encoding == "gzip"
    assert rec.headers["authorization"] == "Bearer s3cret"
    assert "s3cret" not in repr(rec) + repr(rec.headers) + str(rec.headers)
    assert rec.status == 201 and rec.accepted and rec.fault is None and rec.response == {"n": 1}
    assert rec.received_at <= rec.answered_at <= time.monotonic()
    assert counter.items == [{"a": 1}] and counter.accepted == [rec]


def test_not_found_method_not_allowed_and_bad_gzip(counter: CounterFake, http) -> None:
    assert http.get(counter.url + "/nope").status_code == 404
    r = http.delete(counter.url + "/items")
    assert r.status_code == 405 and "POST" in r.headers["Allow"]
    bad = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    assert http.post(counter.url + "/items", data=b"{}", headers=bad).status_code == 400
    assert counter.items == [] and counter.errors == []


def test_fail_next_answers_without_processing(counter: CounterFake, http) -> None:
    counter.fail_next(1, status=502, path=r"^/other$")
    counter.fail_next(2, status=503, headers={"X-Fault": "yes"}, path=r"^/items$")
    codes = [post(http, counter, i) for i in range(3)]
    assert [r.status_code for r in codes] == [503, 503, 201]
    assert codes[0].headers["X-Fault"] == "yes" and codes[0].json() == {
        "message": "Service Unavailable"
    }
    assert counter.items == [{"i": 2}]
    assert [r.fault for r in counter.requests] == ["fail", "fail", None]
    counter.fail_next(1, status=500, body={"custom": True})
    assert post(http, counter).json() == {"custom": True} and len(counter.items) == 1


def test_fail_ratio_is_deterministic(http: requests.Session) -> None:
    def pattern(seed: int) -> list[int]:
        with CounterFake() as fake:
            fake.fail_ratio(0.5, status=500, seed=seed)
            codes = [post(http, fake, i).status_code for i in range(30)]
            assert len(fake.items) == codes.count(201)  # failed requests changed nothing
            return codes

    first = pattern(7)
    assert first == pattern(7) and set(first) == {201, 500}
    assert 5 <= first.count(500) <= 25 and first != pattern(8)


def test_rate_limit_with_retry_after_and_reset(counter: CounterFake, http) -> None:
    counter.rate_limit(2, 0.3, retry_after=7, reset_header="auto")
    codes = [post(http, counter, i) for i in range(3)]
    assert [r.status_code for r in codes] == [201, 201, 429]
    assert codes[2].headers["Retry-After"] == "7" and codes[2].headers["RateLimit-Reset"] == "1"
    assert len(counter.items) == 2 and counter.requests[2].fault == "rate_limit"
    time.sleep(0.35)
    assert post(http, counter).status_code == 201
    counter.rate_limit(1, 30)
    assert post(http, counter).status_code == 201
    r = post(http, counter)
    assert (
        r.status_code == 429
        and "Retry-After" not in r.headers
        and "RateLimit-Reset" not in r.headers
    )


def test_reset_next_resets_the_connection(counter: CounterFake, http) -> None:
    counter.reset_next(1)
    with pytest.raises(requests.ConnectionError, match=r"reset|aborted"):
        post(http, counter, 1)
    (rec,) = counter.requests
    assert rec.fault == "reset" and rec.status is None and not rec.accepted
    assert rec.json == {"i": 1} and counter.items == []  # read, never processed
    assert post(http, counter, 2).status_code == 201 and counter.items == [{"i": 2}]


def test_slow_answer_is_processed_even_if_the_client_gave_up(counter: CounterFake, http) -> None:
    counter.slow_next(1, 0.5)
    with pytest.raises(requests.ReadTimeout):
        post(http, counter, 1, timeout=(1, 0.1))
    assert counter.wait_for(lambda: counter.requests[0].answered_at is not None, 2)
    rec = counter.requests[0]
    assert rec.fault == "slow" and rec.accepted and counter.items == [{"i": 1}]
    assert rec.answered_at - rec.received_at >= 0.5
    start = time.monotonic()
    assert post(http, counter, 2).status_code == 201 and time.monotonic() - start < 0.3


def test_outage_refuse_then_recover_on_the_same_port(counter: CounterFake, http) -> None:
    assert post(http, counter).status_code == 201  # a keep-alive connection is now open
    port, url = counter.port, counter.url
    counter.outage(0.3, mode="refuse")
    assert refused(port)
    with pytest.raises(requests.ConnectionError):
        post(http, counter, 1)
    assert len(counter.requests) == 1  # the kept-alive connection was dropped too
    assert counter.wait_for(lambda: not counter.in_outage, 2)
    assert (counter.port, counter.url) == (port, url) and not refused(port)
    assert post(http, counter, 2).status_code == 201 and counter.items == [{"i": 0}, {"i": 2}]


def test_outage_reset_mode_lasts_until_recover(counter: CounterFake, http) -> None:
    counter.outage(mode="reset")
    assert not refused(counter.port)  # still listening
    for i in range(2):
        with pytest.raises(requests.ConnectionError):
            post(http, counter, i)
    assert [r.fault for r in counter.requests] == ["outage", "outage"] and counter.items == []
    counter.recover()
    assert post(http, counter).status_code == 201


def test_latency_and_clear_faults(counter: CounterFake, http) -> None:
    counter.latency(0.2)
    counter.fail_next(1, 503)
    for expected in (503, 201):
        start = time.monotonic()
        assert post(http, counter).status_code == expected
        assert time.monotonic() - start >= 0.2
    counter.outage(mode="refuse")
    counter.unauthorized()
    counter.rate_limit(0, 10)
    counter.clear_faults()
    start = time.monotonic()
    assert post(http, counter).status_code == 201 and time.monotonic() - start < 0.15


def test_stop_releases_the_port() -> None:
    with CounterFake() as fake:
        port = fake.port
        assert not refused(port)
    assert refused(port)


def test_unauthorized_fault_uses_each_service_error_shape(
    buddy_fake: FakeBuddy, browserstack_fake: FakeBrowserStack, buildkite_fake: FakeBuildkite, http
) -> None:
    calls: list[tuple[FakeService, Callable[[], requests.Response], Any]] = [
        (
            buddy_fake,
            lambda: http.post(
                buddy_fake.url + "unit-tests/sessions",
                json={},
                headers={"Authorization": f"Bearer {buddy_fake.token}"},
            ),
            {"errors": [{"message": "Unauthorized"}]},
        ),
        (
            browserstack_fake,
            lambda: http.post(
                browserstack_fake.url + "/builds/start",
                json=s.bs_build(),
                auth=(browserstack_fake.username, browserstack_fake.access_key),
            ),
            {"success": False, "message": "Unauthorized"},
        ),
        (
            buildkite_fake,
            lambda: http.post(
                buildkite_fake.url + "/uploads",
                json=s.bk_upload(),
                headers={"Authorization": f'Token token="{buildkite_fake.token}"'},
            ),
            {"message": "Unauthorized"},
        ),
    ]
    for fake, call, body in calls:
        fake.unauthorized()
        r = call()
        assert r.status_code == 401 and r.json() == body
        fake.authorize()
        assert call().status_code in (200, 201, 202)
    assert (
        len(buddy_fake.sessions) == len(browserstack_fake.builds) == len(buildkite_fake.runs) == 1
    )


def test_fixtures_and_env_point_at_loopback(
    buddy_fake: FakeBuddy, browserstack_fake: FakeBrowserStack, buildkite_fake: FakeBuildkite
) -> None:
    assert buddy_fake.env()["BUDDY_API_URL"] == buddy_fake.url and buddy_fake.url.endswith("/")
    assert browserstack_fake.env()["TESTREPORT_BROWSERSTACK_API_URL"].endswith("/ext/v1")
    env = buildkite_fake.env()
    assert env["BUILDKITE_ANALYTICS_API_URL"].endswith("/v1")
    assert env["TESTREPORT_BUILDKITE_REST_URL"].endswith("/v2")
    urls = [buddy_fake.url, browserstack_fake.url, buildkite_fake.url]
    assert all(u.startswith("http://127.0.0.1:") for u in urls)
    assert len({buddy_fake.port, browserstack_fake.port, buildkite_fake.port}) == 3
