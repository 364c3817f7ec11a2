"""Self-tests of FakeBuddy: real HTTP over loopback with plain ``requests``.

Collected through ``tests/test_fakes.py`` (which imports them), not on their own.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from . import samples as s
from .buddy import FakeBuddy


def buddy(
    http: requests.Session, fake: FakeBuddy, method: str, path: str, token: str = "", **kw: Any
) -> requests.Response:
    headers = {**kw.pop("headers", {}), "Authorization": f"Bearer {token or fake.token}"}
    return http.request(method, fake.url + path, headers=headers, timeout=5, **kw)


def ws_path(fake: FakeBuddy) -> str:
    return f"workspaces/{fake.workspace}/projects/{fake.project}/unit-tests/suites/{fake.suite}"


def buddy_session(http: requests.Session, fake: FakeBuddy, **fields: Any) -> str:
    r = buddy(http, fake, "POST", "unit-tests/sessions", json=fields)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_buddy_session_flow(buddy_fake: FakeBuddy, http: requests.Session) -> None:
    r = buddy(
        http,
        buddy_fake,
        "POST",
        "unit-tests/sessions",
        json={"ci_provider": "GITHUB_ACTION", "ref_type": "BRANCH", "ref_name": "main"},
    )
    view = r.json()
    assert r.status_code == 201 and view["status"] == "IN_PROGRESS" and view["tests_count"] == 0
    assert view["html_url"].startswith("https://app.buddy.works/") and view["ref_name"] == "main"
    sid = view["id"]
    cases = [
        s.buddy_case("a", data="line\n\ttab\r"),
        s.buddy_case("b", status="FAILED"),
        s.buddy_case("c", status="SKIPPED"),
    ]
    r = buddy(
        http, buddy_fake, "POST", f"unit-tests/sessions/{sid}/cases/batch", json={"cases": cases}
    )
    assert r.status_code == 201 and set(r.json()) == {"url", "html_url", "cases"}
    assert [c["name"] for c in r.json()["cases"]] == ["a", "b", "c"]
    assert all("data" not in c for c in r.json()["cases"])
    r = buddy(
        http,
        buddy_fake,
        "PUT",
        f"unit-tests/sessions/{sid}/cases",
        json=s.buddy_case("d", status="ERROR"),
    )
    assert r.status_code == 201 and r.json()["data"] == '<testcase name="x"/>'
    r = buddy(
        http, buddy_fake, "POST", f"unit-tests/sessions/{sid}/close", json={"status": "FAILED"}
    )
    counts = {
        k: r.json()[k] for k in ("tests_count", "failed_count", "skipped_count", "error_count")
    }
    assert r.status_code == 200 and r.json()["status"] == "ERROR" and r.json()["finish_date"]
    assert counts == {"tests_count": 4, "failed_count": 1, "skipped_count": 1, "error_count": 1}
    session = buddy_fake.session
    assert session.closed and session.close_bodies == [{"status": "FAILED"}]
    assert session.batch_sizes == [3] and session.case("a").data == "line\n\ttab\r"
    assert len(buddy_fake.case_writes) == 2


def test_buddy_upsert_replaces_and_counts(buddy_fake: FakeBuddy, http: requests.Session) -> None:
    sid = buddy_session(http, buddy_fake)
    batch = f"unit-tests/sessions/{sid}/cases/batch"
    buddy(http, buddy_fake, "POST", batch, json={"cases": [s.buddy_case("a"), s.buddy_case("b")]})
    again = [s.buddy_case("a", status="FAILED"), s.buddy_case("b")]
    assert buddy(http, buddy_fake, "POST", batch, json={"cases": again}).status_code == 201
    other_group = s.buddy_case("a", test_group_name="tests/test_other.py")
    assert buddy(http, buddy_fake, "PUT", f"unit-tests/sessions/{sid}/cases", json=other_group).ok
    session = buddy_fake.session
    assert len(session.cases) == 3 and session.upserts == 2
    assert (
        session.cases[("tests/test_auth.py", "tests.test_auth.TestLogin", "a")].status == "FAILED"
    )
    assert session.cases[("tests/test_auth.py", "tests.test_auth.TestLogin", "a")].versions == 2


@pytest.mark.parametrize(
    ("override", "fragment"),
    [c[1:] for c in s.BUDDY_INVALID_CASES],
    ids=[c[0] for c in s.BUDDY_INVALID_CASES],
)
def test_buddy_rejects_invalid_cases(
    buddy_fake: FakeBuddy, http, override: dict, fragment: str
) -> None:
    sid = buddy_session(http, buddy_fake)
    cases = [s.buddy_case("ok"), s.buddy_case(**{"name": "bad", **override})]
    r = buddy(
        http, buddy_fake, "POST", f"unit-tests/sessions/{sid}/cases/batch", json={"cases": cases}
    )
    assert r.status_code == 400 and "cases[1]." in r.json()["errors"][0]["message"]
    assert fragment in r.json()["errors"][0]["message"]
    assert buddy_fake.session.cases == {}  # the whole batch is refused


def test_buddy_batch_size_limits(buddy_fake: FakeBuddy, http: requests.Session) -> None:
    sid = buddy_session(http, buddy_fake)
    batch = f"unit-tests/sessions/{sid}/cases/batch"
    assert buddy(http, buddy_fake, "POST", batch, json={"cases": []}).status_code == 400
    big = [s.buddy_case(f"t{i}") for i in range(1001)]
    assert buddy(http, buddy_fake, "POST", batch, json={"cases": big}).status_code == 400
    assert buddy(http, buddy_fake, "POST", batch, json={"cases": big[:1000]}).status_code == 201
    assert buddy_fake.session.batch_sizes == [1000] and len(buddy_fake.session.cases) == 1000


def test_buddy_closed_and_unknown_sessions(buddy_fake: FakeBuddy, http: requests.Session) -> None:
    r = buddy(http, buddy_fake, "POST", "unit-tests/sessions/nope/close")
    assert r.status_code == 404 and "not found" in r.json()["errors"][0]["message"]
    sid = buddy_session(http, buddy_fake)
    base = f"unit-tests/sessions/{sid}"
    assert buddy(http, buddy_fake, "POST", base + "/close").status_code == 200
    r = buddy(http, buddy_fake, "POST", base + "/cases/batch", json={"cases": [s.buddy_case()]})
    assert r.status_code == 400 and "closed" in r.json()["errors"][0]["message"]
    assert buddy(http, buddy_fake, "PUT", base + "/cases", json=s.buddy_case()).status_code == 400
    r = buddy(http, buddy_fake, "POST", base + "/reopen")
    assert r.status_code == 200 and r.json()["status"] == "IN_PROGRESS"
    assert buddy(http, buddy_fake, "PUT", base + "/cases", json=s.buddy_case()).status_code == 201
    for _ in range(2):  # close is idempotent
        r = buddy(http, buddy_fake, "POST", base + "/close")
        assert r.status_code == 200 and r.json()["status"] == "SUCCESSFUL"
    assert buddy_fake.session.reopen_count == 1 and len(buddy_fake.session.close_bodies) == 3


def test_buddy_auth(buddy_fake: FakeBuddy, http: requests.Session) -> None:
    unauthorized = {"errors": [{"message": "Unauthorized"}]}
    assert http.post(buddy_fake.url + "unit-tests/sessions", json={}).json() == unauthorized
    for path, token in (
        ("unit-tests/sessions", "wrong"),
        ("unit-tests/sessions", buddy_fake.pat),
        (ws_path(buddy_fake) + "/sessions", buddy_fake.token),
    ):
        r = buddy(http, buddy_fake, "POST", path, token=token, json={})
        assert r.status_code == 401 and r.json() == unauthorized
    assert buddy_fake.sessions == {}
    assert buddy_fake.requests[1].headers["Authorization"] == "Bearer wrong"


def test_buddy_session_request_validation(buddy_fake: FakeBuddy, http: requests.Session) -> None:
    for body in ({"ci_provider": "JENKINS"}, {"ref_type": "branch"}, {"revision": 5}, [1]):
        assert buddy(http, buddy_fake, "POST", "unit-tests/sessions", json=body).status_code == 400
    raw = json.dumps({"cases": [s.buddy_case()]}).encode().replace(b"test_login", b"\xff\xfe")
    sid = buddy_session(http, buddy_fake)
    headers = {"Content-Type": "application/json"}
    r = buddy(
        http,
        buddy_fake,
        "POST",
        f"unit-tests/sessions/{sid}/cases/batch",
        data=raw,
        headers=headers,
    )
    assert r.status_code == 400 and "UTF-8" in r.json()["errors"][0]["message"]
    assert buddy_fake.session.cases == {}


def test_buddy_rate_limit_headers(buddy_fake: FakeBuddy, http: requests.Session) -> None:
    buddy_fake.rate_limit(2, 60, retry_after=3)
    codes = [buddy(http, buddy_fake, "POST", "unit-tests/sessions", json={}) for _ in range(3)]
    assert [r.status_code for r in codes] == [201, 201, 429]
    assert codes[0].headers["X-Rate-Limit-Limit"] == "2"
    assert [r.headers["X-Rate-Limit-Remaining"] for r in codes] == ["1", "0", "0"]
    assert codes[2].headers["Retry-After"] == "3" and len(buddy_fake.sessions) == 2


def test_buddy_workspace_session_list(buddy_fake: FakeBuddy, http: requests.Session) -> None:
    sessions = ws_path(buddy_fake) + "/sessions"
    r = buddy(http, buddy_fake, "POST", sessions, token=buddy_fake.pat, json={"ref_name": "dev"})
    assert r.status_code == 201 and r.json()["relative_id"] == 1
    for i in range(22):
        buddy_fake.add_session(ref_name="main" if i % 2 else "dev")

    def page(**params: Any) -> list[int]:
        r = buddy(http, buddy_fake, "GET", sessions, token=buddy_fake.pat, params=params)
        assert r.status_code == 200 and set(r.json()) == {"url", "html_url", "sessions"}  # no total
        return [x["relative_id"] for x in r.json()["sessions"]]

    assert page() == list(range(23, 3, -1))  # default per_page 20, newest first
    assert page(per_page=10, page=3) == [3, 2, 1] and page(per_page=10, page=4) == []
    assert page(branch="main", per_page=100) == list(range(23, 1, -2))
    r = buddy(http, buddy_fake, "GET", sessions, token=buddy_fake.pat, params={"page": 0})
    assert r.status_code == 400
    wrong = sessions.replace(buddy_fake.workspace, "other-ws")
    assert buddy(http, buddy_fake, "GET", wrong, token=buddy_fake.pat).status_code == 404


def test_buddy_workspace_cases(buddy_fake: FakeBuddy, http: requests.Session) -> None:
    sid = buddy_session(http, buddy_fake)
    statuses = ["PASSED", "FAILED", "FAILED", "ERROR", "FAILED"]
    cases = [s.buddy_case(f"t{i}", status=st) for i, st in enumerate(statuses)]
    buddy(http, buddy_fake, "POST", f"unit-tests/sessions/{sid}/cases/batch", json={"cases": cases})
    base = f"{ws_path(buddy_fake)}/sessions/{sid}"

    def get(path: str, **params: Any) -> requests.Response:
        return buddy(http, buddy_fake, "GET", path, token=buddy_fake.pat, params=params)

    first = get(base + "/cases", status="FAILED", per_page=2).json()["cases"]
    second = get(base + "/cases", status="FAILED", per_page=2, page=2).json()["cases"]
    assert [c["name"] for c in first + second] == ["t1", "t2", "t4"]
    assert (
        all("data" not in c for c in first)
        and get(base + "/cases", status="BAD").status_code == 400
    )
    detail = http.get(first[0]["url"], headers={"Authorization": f"Bearer {buddy_fake.pat}"})
    assert detail.status_code == 200 and detail.json()["data"] == '<testcase name="x"/>'
    groups = get(base + "/test-groups").json()["test_groups"]
    assert groups[0]["tests_count"] == 5 and groups[0]["status"] == "ERROR"
    assert get(base).json()["failed_count"] == 3
    r = buddy(http, buddy_fake, "POST", base + "/close", token=buddy_fake.pat)
    assert r.status_code == 200 and buddy_fake.session.closed


def test_buddy_on_premises_path_prefix(http: requests.Session) -> None:
    with FakeBuddy(api_path="/api") as fake:
        assert fake.url.endswith("/api/")
        assert buddy(http, fake, "POST", "unit-tests/sessions", json={}).status_code == 201
        r = http.post(
            fake.origin + "/unit-tests/sessions",
            json={},
            headers={"Authorization": f"Bearer {fake.token}"},
        )
        assert r.status_code == 404 and len(fake.sessions) == 1
