"""Proxy and CA settings from the environment, read once when a target's client is made.

requests reads ``*_proxy``, ``no_proxy`` and the CA bundle variables from ``os.environ`` on
every request. pytest changes ``os.environ`` (``PYTEST_CURRENT_TEST``) around every test, and
reading it from another thread at that moment can fail (``KeyError``, "dictionary changed size
during iteration"): a result spooled for nothing. The client therefore turns requests'
``trust_env`` off and applies this snapshot itself, with requests' own rules.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Union
from urllib.parse import urlsplit

CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def _environment() -> dict[str, str]:
    """A copy of ``os.environ``; retried, since another thread may change it meanwhile."""
    for _ in range(5):
        try:
            return dict(os.environ)
        except (KeyError, RuntimeError):
            continue
    return {}


@dataclass(frozen=True)
class ProxyEnvironment:
    """What requests would take from the environment: proxies by scheme, bypasses, CA bundle."""

    proxies: dict[str, str] = field(default_factory=dict)
    no_proxy: str = ""
    ca_bundle: str = ""

    @classmethod
    def snapshot(cls) -> ProxyEnvironment:
        env = _environment()
        proxies: dict[str, str] = {}
        # urllib's rules (getproxies_environment): any case first, then the lowercase names
        # win (an empty one removes); under CGI (REQUEST_METHOD set) HTTP_PROXY may come from
        # a request's header, so only the lowercase http_proxy counts.
        for name, value in env.items():
            if value and name.lower().endswith("_proxy"):
                proxies[name[:-6].lower()] = value
        if "REQUEST_METHOD" in env:
            proxies.pop("http", None)
        for name, value in env.items():
            if name.endswith("_proxy"):
                if value:
                    proxies[name[:-6].lower()] = value
                else:
                    proxies.pop(name[:-6].lower(), None)
        no_proxy = proxies.pop("no", "")
        bundle = next((env[name] for name in CA_BUNDLE_VARIABLES if env.get(name)), "")
        return cls(proxies=proxies, no_proxy=no_proxy, ca_bundle=bundle)

    def for_url(self, url: str) -> dict[str, str]:
        """The proxies mapping to hand requests for ``url``: empty when ``no_proxy`` says so."""
        if not self.proxies or self._bypassed(url):
            return {}
        return dict(self.proxies)

    def verify(self, verify: Union[bool, str]) -> Union[bool, str]:
        """The CA bundle variables replace the default store, never an explicit choice."""
        return self.ca_bundle if verify is True and self.ca_bundle else verify

    def _bypassed(self, url: str) -> bool:
        """requests' ``should_bypass_proxies`` on the snapshot (that function reads, and even
        sets, ``os.environ``): its own host and CIDR checks, then urllib's."""
        if not self.no_proxy:
            return False
        # Imported here: urllib.request is heavy, and requests has loaded it by now.
        from urllib.request import proxy_bypass_environment

        from requests.utils import address_in_network, is_ipv4_address, is_valid_cidr

        parts = urlsplit(url)
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        entries = [entry for entry in self.no_proxy.replace(" ", "").split(",") if entry]
        if is_ipv4_address(host):
            if any(address_in_network(host, entry) if is_valid_cidr(entry) else host == entry
                   for entry in entries):  # fmt: skip
                return True
        elif any(host.endswith(entry) or netloc.endswith(entry) for entry in entries):
            return True
        return bool(proxy_bypass_environment(netloc, {"no": self.no_proxy}))
