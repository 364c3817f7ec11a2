"""The HTTP client reads proxy and CA settings once, and never lets ~/.netrc replace its token.

requests reads the environment on every request; pytest changes ``os.environ`` around every
test, so in thread delivery that read could fail and spool a result for nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pytest_testreport.engine.http import HttpClient
from pytest_testreport.engine.proxies import ProxyEnvironment
from pytest_testreport.engine.secrets import Secret

PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                   "ALL_PROXY", "no_proxy", "NO_PROXY", "REQUEST_METHOD", "REQUESTS_CA_BUNDLE",
                   "CURL_CA_BUNDLE")  # fmt: skip


class Recorder(ThreadingHTTPServer):
    """A loopback server that answers 200 to anything and keeps request lines and headers."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, str]]] = []
        super().__init__(("127.0.0.1", 0), _Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Recorder

    def do_GET(self) -> None:  # http.server's naming
        self.server.seen.append((self.path, dict(self.headers)))
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


@pytest.fixture(autouse=True)
def _no_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def _serving() -> Iterator[Recorder]:
    server = Recorder()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy() -> Iterator[Recorder]:
    yield from _serving()


@pytest.fixture
def service() -> Iterator[Recorder]:
    yield from _serving()


def client(base_url: str) -> HttpClient:
    return HttpClient("demo", base_url, {"Authorization": Secret("Bearer our-token")})


def test_proxy_read_once_when_the_client_is_made(
    proxy: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    http = client("http://service.invalid/api")
    monkeypatch.delenv("HTTP_PROXY")  # as pytest changes os.environ while tests run
    http.request("GET", "ping")
    assert [path for path, _ in proxy.seen] == ["http://service.invalid/api/ping"]


def test_no_proxy_is_honoured(proxy: Recorder, service: Recorder,
                              monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    client(service.url).request("GET", "ping")
    assert [path for path, _ in service.seen] == ["/ping"]
    assert proxy.seen == []


def test_netrc_never_replaces_the_targets_token(
    service: Recorder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password other\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    client(service.url).request("GET", "ping")
    assert service.seen[0][1]["Authorization"] == "Bearer our-token"


@pytest.mark.parametrize(
    ("env", "url", "expected"),
    [
        ({"HTTPS_PROXY": "http://upper:1", "https_proxy": "http://lower:1"},
         "https://api.test/", {"https": "http://lower:1"}),
        ({"HTTP_PROXY": "http://upper:1", "http_proxy": ""}, "http://api.test/", {}),
        ({"HTTP_PROXY": "http://cgi:1", "REQUEST_METHOD": "GET"}, "http://api.test/", {}),
        ({"ALL_PROXY": "http://all:1"}, "https://api.test/", {"all": "http://all:1"}),
        ({"ALL_PROXY": "http://all:1", "NO_PROXY": "*"}, "https://api.test/", {}),
        ({"ALL_PROXY": "http://all:1", "NO_PROXY": ".test"}, "https://api.test/", {}),
        ({"ALL_PROXY": "http://all:1", "NO_PROXY": "test"}, "https://api.test/", {}),
        ({"ALL_PROXY": "http://all:1", "NO_PROXY": "other.test"}, "https://api.test/",
         {"all": "http://all:1"}),
        ({"ALL_PROXY": "http://all:1", "NO_PROXY": "10.0.0.0/8"}, "https://10.1.2.3/", {}),
        ({"ALL_PROXY": "http://all:1", "NO_PROXY": "10.0.0.0/8"}, "https://11.1.2.3/",
         {"all": "http://all:1"}),
        ({"ALL_PROXY": "http://all:1", "NO_PROXY": "api.test:8443"}, "https://api.test:8443/",
         {}),
    ],
)  # fmt: skip
def test_requests_rules_on_the_snapshot(env: dict[str, str], url: str, expected: dict[str, str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert ProxyEnvironment.snapshot().for_url(url) == expected


def test_ca_bundle_variable_replaces_only_the_default_store(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/company.pem")
    environment = ProxyEnvironment.snapshot()
    assert environment.verify(True) == "/etc/ssl/company.pem"
    assert environment.verify(False) is False  # verification off stays off
    assert environment.verify("/own.pem") == "/own.pem"
