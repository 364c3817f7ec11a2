"""Self-tests of FakeBuildkite: real HTTP over loopback with plain ``requests``.

Collected through ``tests/test_fakes.py`` (which imports them), not on their own.
"""

from __future__ import annotations

import gzip
import json
import re
from typing import Any

import pytest
import requests

from . import samples as s
from .buildkite import FakeBuildkite


def bk_upload(
    http: requests.Session,
    fake: FakeBuildkite,
    payload: Any,
    token: str = "",
    gzipped: bool = False,
    auth: str = "",
) -> requests.Response:
    headers = {
        "Content-Type": "application/json",
        "Authorization": auth or f'Token token="{token or fake.token}"',
    }
    data = json.dumps(payload).encode()
    if gzipped:
        data, headers["Content-Encoding"] = gzip.compress(data), "gzip"
    return http.post(fake.url + "/uploads", data=data, headers=headers, timeout=10)


def bk_rest(
    http: requests.Session, fake: FakeBuildkite, path: str, **params: Any
) -> requests.Response:
    url = f"{fake.rest_url}/analytics/organizations/{fake.org}/suites/{fake.suite}{path}"
    return http.get(url, params=params, headers={"Authorization": f"Bearer {fake.api_token}"})


def test_buildkite_upload_groups_runs(
    buildkite_fake: FakeBuildkite, http: requests.Session
) -> None:
    fake = buildkite_fake
    tags = {f"k{i}": "v" for i in range(10)} | {"scm.branch": "main"}  # core tags do not count
    r = bk_upload(
        http, fake, s.bk_upload("run-1", [s.bk_execution("a", tags=tags), s.bk_execution("b")])
    )
    body = r.json()
    assert r.status_code == 202 and set(body) == {
        "id",
        "run_id",
        "queued",
        "skipped",
        "errors",
        "run_url",
    }
    assert (body["queued"], body["skipped"], body["errors"]) == (2, 0, [])
    r2 = bk_upload(http, fake, s.bk_upload("run-1", tags={"python.version": "3.12"}), gzipped=True)
    assert r2.status_code == 202 and r2.json()["run_id"] == body["run_id"]
    assert bk_upload(http, fake, s.bk_upload("run-2")).json()["run_id"] != body["run_id"]
    assert set(fake.runs) == {"run-1", "run-2"} and len(fake.runs["run-1"].executions) == 3
    assert fake.uploads[1].gzip and fake.requests[1].content_encoding == "gzip"
    assert fake.runs["run-1"].executions[2].tags == {"python.version": "3.12"}
    assert fake.runs["run-1"].duplicates == 0 and body["run_url"].endswith(body["run_id"])


def test_buildkite_counts_duplicates(buildkite_fake: FakeBuildkite, http: requests.Session) -> None:
    execution = s.bk_execution()
    for _ in range(2):  # e.g. a retry after a lost answer
        assert bk_upload(http, buildkite_fake, s.bk_upload("k", [execution])).status_code == 202
    run = buildkite_fake.run
    assert (
        run.duplicates == 1 and len(run.executions) == 2 and len(run.by_id()[execution["id"]]) == 2
    )


@pytest.mark.parametrize(
    ("override", "fragment"),
    [c[1:] for c in s.BK_INVALID_RECORDS],
    ids=[c[0] for c in s.BK_INVALID_RECORDS],
)
def test_buildkite_skips_invalid_records(
    buildkite_fake: FakeBuildkite, http, override, fragment
) -> None:
    bad = {**s.bk_execution("bad"), **override}
    r = bk_upload(http, buildkite_fake, s.bk_upload("k", [s.bk_execution("good"), bad]))
    assert r.status_code == 202 and (r.json()["queued"], r.json()["skipped"]) == (1, 1)
    run = buildkite_fake.run
    assert [e.name for e in run.executions] == ["good"] and run.skipped == 1
    assert fragment in run.skipped_reasons[0] and "data[1]" in run.skipped_reasons[0]


@pytest.mark.parametrize(
    ("payload", "status", "fragment"),
    [
        (s.bk_upload(data=[s.bk_execution() for _ in range(5001)]), 422, "maximum is 5000"),
        (s.bk_upload(data=[]), 422, "data must have at least 1"),
        ({**s.bk_upload(), "run_env": {"branch": "main"}}, 422, "run_env.key is required"),
        (s.bk_upload(format="junit"), 422, "JSON uploads only"),
        (s.bk_upload(format=None), 422, "format is required"),
        (s.bk_upload(tags={f"k{i}": "v" for i in range(11)}), 422, "at most 10 tags"),
        (s.bk_upload(tags={"mut": "x"}), 422, "reserved for mutable tags"),
    ],
    ids=["over-5000", "empty", "no-key", "junit", "no-format", "upload-tags", "mut"],
)
def test_buildkite_rejects_bad_uploads(
    buildkite_fake: FakeBuildkite, http, payload, status, fragment
) -> None:
    r = bk_upload(http, buildkite_fake, payload)
    assert r.status_code == status and fragment in r.json()["message"]
    assert buildkite_fake.runs == {}


def test_buildkite_upload_boundaries_and_auth(buildkite_fake: FakeBuildkite, http) -> None:
    fake = buildkite_fake
    assert (
        bk_upload(http, fake, s.bk_upload(data=[s.bk_execution() for _ in range(5000)])).json()[
            "queued"
        ]
        == 5000
    )
    headers = {"Content-Type": "application/json", "Authorization": f'Token token="{fake.token}"'}
    assert http.post(fake.url + "/uploads", data=b"{nope", headers=headers).status_code == 400
    multipart = http.post(
        fake.url + "/uploads",
        files={"data": b"x"},
        headers={"Authorization": headers["Authorization"]},
    )
    assert multipart.status_code == 415
    for auth in (f"Bearer {fake.token}", 'Token token="wrong"', ""):
        r = bk_upload(http, fake, s.bk_upload("other"), auth=auth or "Token")
        assert r.status_code == 401 and "message" in r.json()
    assert (
        bk_upload(http, fake, s.bk_upload("k2"), auth=f"Token token={fake.token}").status_code
        == 202
    )
    assert set(fake.runs) == {"run-1", "k2"}


def test_buildkite_rest_runs_and_link_pagination(buildkite_fake: FakeBuildkite, http) -> None:
    fake = buildkite_fake
    for key, result in (("k1", "passed"), ("k2", "failed"), ("k3", "passed")):
        bk_upload(http, fake, s.bk_upload(key, [s.bk_execution(result=result)]))
    ids, url, remaining = [], None, []
    r = bk_rest(http, fake, "/runs", per_page=1)
    while True:
        assert r.status_code == 200 and 'rel="last"' in r.headers["Link"]
        ids += [run["id"] for run in r.json()]
        remaining.append(int(r.headers["RateLimit-User-Remaining"]))
        match = re.search(r'<([^>]+)>; rel="next"', r.headers["Link"])
        if not match:
            break
        url = match.group(1)
        r = http.get(url, headers={"Authorization": f"Bearer {fake.api_token}"})
    assert ids == [fake.runs[k].id for k in ("k3", "k2", "k1")]
    assert remaining == [49, 48, 47] and r.headers["RateLimit-Limit"] == "200"
    one = bk_rest(http, fake, f"/runs/{fake.runs['k2'].id}").json()
    assert (one["result"], one["state"], one["branch"]) == ("failed", "finished", "main")
    assert bk_rest(http, fake, "/runs/nope").status_code == 404
    wrong = f"{fake.rest_url}/analytics/organizations/other/suites/{fake.suite}/runs"
    assert http.get(wrong, headers={"Authorization": f"Bearer {fake.api_token}"}).status_code == 404
    assert http.get(wrong.replace("other", fake.org)).status_code == 401
    assert bk_rest(http, fake, "/runs", page="x").status_code == 400


def test_buildkite_failed_executions_and_flaky(buildkite_fake: FakeBuildkite, http) -> None:
    fake = buildkite_fake
    executions = [
        s.bk_execution(
            f"t{i}",
            result="failed",
            failure_reason=f"boom {i}",
            tags={"scm.branch": "main", "test.attempt": "1"},
        )
        for i in range(3)
    ]
    bk_upload(http, fake, s.bk_upload("k", [*executions, s.bk_execution("ok")]))
    rid = fake.run.id
    first = bk_rest(http, fake, f"/runs/{rid}/failed_executions", per_page=2)
    assert 'rel="next"' in first.headers["Link"]
    second = bk_rest(http, fake, f"/runs/{rid}/failed_executions", per_page=2, page=2)
    items = first.json() + second.json()
    assert [i["execution_id"] for i in items] == [e["id"] for e in executions]
    assert (
        items[0]["test_name"] == "tests/test_auth.py::TestLogin t0"
        and items[0]["failure_reason"] == "boom 0"
    )
    assert items[0]["tags"] == {"test.attempt": "1"} and 'rel="next"' not in second.headers["Link"]
    fake.set_labels("tests/test_auth.py::TestLogin", "t1", "flaky")
    flaky = bk_rest(http, fake, "/tests", label="flaky").json()
    assert [(t["name"], t["labels"]) for t in flaky] == [("t1", ["flaky"])]
    assert len(bk_rest(http, fake, "/tests", label="!flaky").json()) == 3


def test_buildkite_rest_rate_limit(buildkite_fake: FakeBuildkite, http: requests.Session) -> None:
    buildkite_fake.rest_limits(org=200, user=2, window=60)
    codes = [bk_rest(http, buildkite_fake, "/runs") for _ in range(3)]
    assert [r.status_code for r in codes] == [200, 200, 429]
    body = codes[2].json()
    assert (body["scope"], body["limit"], body["current"]) == ("rest_user", 2, 3) and 0 < body[
        "reset"
    ] <= 60
    assert codes[2].headers["RateLimit-User-Remaining"] == "0"
