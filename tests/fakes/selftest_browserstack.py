"""Self-tests of FakeBrowserStack: real HTTP over loopback with plain ``requests``.

Collected through ``tests/test_fakes.py`` (which imports them), not on their own.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
import requests

from . import samples as s
from .browserstack import FakeBrowserStack


def bs(
    http: requests.Session, fake: FakeBrowserStack, method: str, path: str, **kw: Any
) -> requests.Response:
    return http.request(
        method, fake.url + path, auth=(fake.username, fake.access_key), timeout=5, **kw
    )


def bs_ok(http: requests.Session, fake: FakeBrowserStack, method: str, path: str, body: Any) -> Any:
    r = bs(http, fake, method, path, json=body)
    assert r.status_code == 200 and r.json()["success"] is True, r.text
    return r.json()


def test_browserstack_flow(browserstack_fake: FakeBrowserStack, http: requests.Session) -> None:
    fake = browserstack_fake
    bid = bs_ok(http, fake, "POST", "/builds/start", s.bs_build())["build_hashed_id"]
    assert re.fullmatch(r"[a-z0-9]{40}", bid)
    tid = bs_ok(http, fake, "POST", f"/builds/{bid}/tests/start", s.bs_test_start())["uuid"]
    hook = s.bs_hook_start(test_run_id=tid)
    hid = bs_ok(http, fake, "POST", f"/builds/{bid}/hooks/start", hook)["uuid"]
    assert uuid.UUID(tid) != uuid.UUID(hid)
    logs = [
        {"kind": "TEST_LOG", "test_run_uuid": tid, "message": "hi", "timestamp": s.TS},
        {"kind": "HOOK_LOG", "hook_run_uuid": hid, "level": "INFO"},
    ]
    bs_ok(http, fake, "POST", f"/builds/{bid}/logs", {"logs": logs})
    bs_ok(http, fake, "PUT", f"/builds/{bid}/hooks/{hid}/finish", s.bs_hook_finish())
    steps = [{"id": 1, "keyword": "Given", "text": "a user", "result": "passed", "duration": 3}]
    finish = s.bs_test_finish(
        "failed", hooks=[hid], meta={"steps": steps}, failure=[{"backtrace": ["line 1", "line 2"]}]
    )
    answer = bs_ok(http, fake, "PUT", f"/builds/{bid}/tests/{tid}/finish", finish)
    assert answer["message"] == "Test run updated successfully."
    answer = bs_ok(http, fake, "PUT", f"/builds/{bid}/finish", {"finished_at": s.TS})
    assert answer["message"] == "Build finished successfully."
    build = fake.build
    run = build.tests[tid]
    assert run.result == "failed" and run.finish_count == 1 and len(run.logs) == 1
    assert build.hooks[hid].start["test_run_id"] == tid and len(build.logs) == 2
    assert build.finished_at == s.TS and build.open_at_finish == [] and build.late == []
    assert fake.kinds() == [
        "build_start",
        "test_start",
        "hook_start",
        "logs",
        "hook_finish",
        "test_finish",
        "build_finish",
    ]
    times = [e.time for e in fake.events]
    assert times == sorted(times) and run.started <= run.finished <= build.finished


@pytest.fixture
def bs_started(browserstack_fake: FakeBrowserStack, http: requests.Session) -> dict[str, str]:
    """A build with one started test run and one started hook run (beforeEach)."""
    fake = browserstack_fake
    bid = bs_ok(http, fake, "POST", "/builds/start", s.bs_build())["build_hashed_id"]
    tid = bs_ok(http, fake, "POST", f"/builds/{bid}/tests/start", s.bs_test_start())["uuid"]
    hid = bs_ok(http, fake, "POST", f"/builds/{bid}/hooks/start", s.bs_hook_start())["uuid"]
    return {"bid": bid, "tid": tid, "hid": hid}


@pytest.mark.parametrize(
    ("endpoint", "override", "fragment"),
    [c[1:] for c in s.BS_LIMITS],
    ids=[c[0] for c in s.BS_LIMITS],
)
def test_browserstack_rejects_every_documented_limit(
    browserstack_fake: FakeBrowserStack,
    http,
    bs_started: dict[str, str],
    endpoint: str,
    override: dict[str, Any],
    fragment: str,
) -> None:
    bid, tid, hid = bs_started["bid"], bs_started["tid"], bs_started["hid"]
    method, path, body = {
        "build": ("POST", "/builds/start", s.bs_build(**override)),
        "test": ("POST", f"/builds/{bid}/tests/start", s.bs_test_start(**override)),
        "finish": ("PUT", f"/builds/{bid}/tests/{tid}/finish", s.bs_test_finish(**override)),
        "hook": ("POST", f"/builds/{bid}/hooks/start", s.bs_hook_start(**override)),
        "hook_finish": ("PUT", f"/builds/{bid}/hooks/{hid}/finish", s.bs_hook_finish(**override)),
        "logs": ("POST", f"/builds/{bid}/logs", override),
    }[endpoint]
    before = list(browserstack_fake.events)
    r = bs(http, browserstack_fake, method, path, json=body)
    assert r.status_code == 400 and r.json()["success"] is False
    assert fragment in r.json()["message"]
    assert browserstack_fake.events == before  # nothing recorded


def test_browserstack_ordering_rules(browserstack_fake: FakeBrowserStack, http, bs_started) -> None:
    fake, bid, tid, hid = browserstack_fake, bs_started["bid"], bs_started["tid"], bs_started["hid"]
    unknown = str(uuid.uuid4())
    assert (
        bs(
            http, fake, "PUT", f"/builds/{bid}/tests/{unknown}/finish", json=s.bs_test_finish()
        ).status_code
        == 404
    )
    assert (
        bs(http, fake, "POST", "/builds/nope/tests/start", json=s.bs_test_start()).status_code
        == 404
    )
    bad_refs = [
        ("POST", f"/builds/{bid}/hooks/start", s.bs_hook_start(test_run_id=unknown)),
        ("PUT", f"/builds/{bid}/tests/{tid}/finish", s.bs_test_finish(hooks=[unknown])),
        ("POST", f"/builds/{bid}/logs", {"logs": [{"kind": "TEST_LOG", "test_run_uuid": unknown}]}),
    ]
    for method, path, body in bad_refs:
        r = bs(http, fake, method, path, json=body)
        assert r.status_code == 400 and unknown in r.json()["message"]
    for _ in range(2):  # a repeated finish (PUT) is fine
        bs_ok(http, fake, "PUT", f"/builds/{bid}/tests/{tid}/finish", s.bs_test_finish())
    assert fake.build.tests[tid].finish_count == 2
    bs_ok(http, fake, "PUT", f"/builds/{bid}/finish", {"finished_at": s.TS})
    assert fake.build.open_at_finish == [hid]  # accepted, but the open hook run is noted
    r = bs(http, fake, "POST", f"/builds/{bid}/tests/start", json=s.bs_test_start())
    assert r.status_code == 400 and "already finished" in r.json()["message"]
    r = bs(http, fake, "PUT", f"/builds/{bid}/hooks/{hid}/finish", json=s.bs_hook_finish())
    assert r.status_code == 400 and len(fake.build.late) == 2
    bs_ok(http, fake, "PUT", f"/builds/{bid}/finish", {"finished_at": s.TS})
    assert fake.build.finish_count == 2 and fake.kinds().count("build_finish") == 1
    assert fake.kinds()[-1] == "build_finish" and len(fake.build.tests) == 1


def test_browserstack_rate_limit_and_auth(browserstack_fake: FakeBrowserStack, http) -> None:
    assert browserstack_fake.rate_state()[:2] == (1600, 1600)  # on by default, as published
    with FakeBrowserStack(rate_limit=(3, 60)) as fake:
        codes = [bs(http, fake, "POST", "/builds/start", json=s.bs_build()) for _ in range(4)]
        assert [r.status_code for r in codes] == [200, 200, 200, 429]
        assert codes[3].json()["success"] is False and "Retry-After" not in codes[3].headers
        assert len(fake.builds) == 3
    r = http.get(browserstack_fake.url + "/projects", auth=("fake-bs-user", "wrong"))
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Basic")


def test_browserstack_read_endpoints(http: requests.Session) -> None:
    with FakeBrowserStack(page_size=2) as fake:
        ids = [
            bs_ok(http, fake, "POST", "/builds/start", s.bs_build(name=n, project_name=p))[
                "build_hashed_id"
            ]
            for n, p in (("b1", "A"), ("b2", "A"), ("b3", "B"))
        ]
        bid = ids[1]
        for result in ("passed", "failed", "failed", "skipped", None):
            tid = bs_ok(http, fake, "POST", f"/builds/{bid}/tests/start", s.bs_test_start())["uuid"]
            if result:
                bs_ok(
                    http, fake, "PUT", f"/builds/{bid}/tests/{tid}/finish", s.bs_test_finish(result)
                )
        projects = bs(http, fake, "GET", "/projects").json()
        assert [p["name"] for p in projects["projects"]] == ["A", "B"]
        assert projects["pagination"]["has_next"] is False
        builds = bs(http, fake, "GET", f"/projects/{projects['projects'][0]['id']}/builds").json()
        assert [b["build_id"] for b in builds["builds"]] == [ids[1], ids[0]]
        latest = bs(http, fake, "GET", "/builds/latest", params={"project_name": "A"}).json()
        assert latest["build_id"] == ids[1] and latest["status"] == "running"
        assert latest["status_stats"] == {
            "passed": 1,
            "failed": 2,
            "skipped": 1,
            "timeout": 0,
            "pending": 1,
        }
        assert (
            bs(http, fake, "GET", "/builds/latest", params={"build_name": "zz"}).status_code == 404
        )
        seen, cursor, pages = [], None, 0
        while True:
            params = {"next_page": cursor} if cursor else {}
            page = bs(http, fake, "GET", f"/builds/{bid}/testRuns", params=params).json()
            seen += [r["uuid"] for r in page["test_runs"]]
            pages += 1
            if not page["pagination"]["has_next"]:
                break
            cursor = page["pagination"]["next_page"]
        assert pages == 3 and len(set(seen)) == 5
        failed = bs(
            http, fake, "GET", f"/builds/{bid}/testRuns", params={"test_statuses": "failed,pending"}
        )
        assert {r["status"] for r in failed.json()["test_runs"]} == {"failed"}
        assert failed.json()["pagination"]["has_next"] is True
        for params in ({"test_statuses": "bogus"}, {"next_page": "bogus"}):
            assert (
                bs(http, fake, "GET", f"/builds/{bid}/testRuns", params=params).status_code == 400
            )
