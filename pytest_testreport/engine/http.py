"""HTTP for targets: one ``requests.Session`` each, timeouts always set, retries as a policy.

The retry state machine is urllib3's ``Retry`` (backoff, ``Retry-After``, budgets); the policy
adds full jitter, ``RateLimit-Reset`` and the end-of-run deadline, and the client refuses to
repeat a request that is not safe to repeat once it may have been processed.
"""

from __future__ import annotations

import gzip
import json as jsonlib
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional, Union

from .debuglog import DebugLog
from .errors import AmbiguousError, RejectedError, RetryableError, UnreachableError
from .limits import Deadline, TokenBucket
from .proxies import ProxyEnvironment
from .secrets import Secret, mask

if TYPE_CHECKING:
    import requests

    from .retry import RetryPolicy


@dataclass
class HttpOptions:
    """How a target talks HTTP; every field has a safe default."""

    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    verify: Union[bool, str] = True
    pool_size: int = 4
    attempts: int = 6
    rate: Optional[tuple[int, float]] = None
    dry_run: bool = False
    extra_headers: dict[str, str] = field(default_factory=dict)


def _unsent(exc: requests.RequestException) -> bool:
    """True when the request certainly never reached the server."""
    import requests
    from urllib3.exceptions import NewConnectionError

    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)
    return isinstance(reason, NewConnectionError)


class HttpClient:
    """One target's HTTP client; used only from that target's sender thread(s)."""

    def __init__(
        self,
        name: str,
        base_url: str,
        headers: dict[str, Union[str, Secret]],
        options: Optional[HttpOptions] = None,
        *,
        deadline: Optional[Deadline] = None,
        debug: Optional[DebugLog] = None,
        auth_hint: str = "",
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/") + "/"
        self.options = options or HttpOptions()
        self.deadline = deadline or Deadline()
        self.debug = debug
        self.auth_hint = auth_hint
        self._secrets = [v for v in headers.values() if isinstance(v, Secret)]
        self._headers = {k: v.reveal() if isinstance(v, Secret) else v for k, v in headers.items()}
        self._headers.update(self.options.extra_headers)
        self._session: Optional[requests.Session] = None
        self._session_lock = threading.Lock()  # a target's pool threads share the session
        rate = self.options.rate
        self.bucket = TokenBucket(rate[0], rate[1], self.deadline) if rate else None
        # Read once, here (pytest's thread, before the tests): see engine/proxies.py.
        self.environment = ProxyEnvironment.snapshot()
        # Until the service has answered once, an unreachable one is given up on quickly:
        # a service that is down at start-up must not hold the run's end for a whole budget.
        self.reached = False

    def bind(self, deadline: Deadline) -> None:
        """Use the run's end-of-run deadline for every wait from now on."""
        self.deadline = deadline
        if self.bucket is not None:
            self.bucket.deadline = deadline

    @property
    def session(self) -> requests.Session:
        """The connection pool, made on first use: building a target must stay cheap."""
        with self._session_lock:
            if self._session is None:
                import requests
                from requests.adapters import HTTPAdapter

                session = requests.Session()
                # Not the environment on every request (see engine/proxies.py), nor ~/.netrc,
                # whose login would replace the target's own Authorization header.
                session.trust_env = False
                session.verify = self.environment.verify(self.options.verify)
                adapter = HTTPAdapter(pool_connections=1, pool_maxsize=self.options.pool_size)
                session.mount("https://", adapter)
                session.mount("http://", adapter)
                self._session = session
            return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()

    def url(self, path: str) -> str:
        return path if "://" in path else self.base_url + path.lstrip("/")

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Optional[dict[str, Any]] = None,
        compress: bool = False,
        idempotent: bool = True,
        form: Optional[tuple[bytes, str]] = None,
    ) -> requests.Response:
        """Send with retries; returns a 2xx/3xx answer or raises a ``DeliveryError``.

        ``form``: an encoded body and its content type (a multipart upload) instead of JSON.
        """
        url = self.url(path)
        body, headers = self._encode(json, compress)
        if form is not None:
            body, headers["Content-Type"] = form
        if self.options.dry_run:
            return self._dry_run(method, url, json if form is None else f"<{len(body or b'')} "
                                 f"bytes of {form[1].split(';')[0]}>")  # fmt: skip
        import requests
        from urllib3.exceptions import MaxRetryError

        from .retry import NOT_PROCESSED, RETRY_STATUSES, default_retry

        retry = default_retry(self.deadline, self.options.attempts)
        while True:
            if self.bucket is not None:
                self.bucket.acquire()
            started = time.monotonic()
            try:
                response = self.session.request(
                    method, url, data=body, params=params, headers=headers,
                    timeout=self._timeouts(), allow_redirects=False,
                    proxies=self.environment.for_url(url),
                )  # fmt: skip
            except requests.RequestException as exc:
                self._log(method, url, f"{type(exc).__name__}: {exc}", started)
                retry = self._after_error(retry, method, url, exc, idempotent)
                continue
            self._log(method, url, str(response.status_code), started)
            self.reached = True
            status = response.status_code
            if status < 400:
                return response
            if status not in RETRY_STATUSES:
                raise self._rejected(response)
            if not idempotent and status not in NOT_PROCESSED:
                raise AmbiguousError(f"{method} {url} answered {status}; not repeated")
            try:
                retry = retry.increment(method, url, response=response.raw)
            except MaxRetryError:
                raise RetryableError(
                    f"{status} {response.reason} after {len(retry.history) + 1} attempts"
                ) from None
            retry.sleep(response.raw)

    def _after_error(self, retry: RetryPolicy, method: str, url: str,
                     exc: requests.RequestException, idempotent: bool) -> RetryPolicy:  # fmt: skip
        from urllib3.exceptions import MaxRetryError, NewConnectionError, ReadTimeoutError

        unsent = _unsent(exc)
        if not unsent and not idempotent:
            raise AmbiguousError(f"{method} {url}: {type(exc).__name__}; not repeated") from None
        if unsent and not self.reached and retry.history:
            raise UnreachableError(mask(f"{type(exc).__name__}: {exc}", self._secrets)) from None
        error = (
            NewConnectionError(None, str(exc))  # type: ignore[arg-type]
            if unsent
            else ReadTimeoutError(None, url, str(exc))  # type: ignore[arg-type]
        )
        try:
            retry = retry.increment(method, url, error=error)
        except MaxRetryError:
            kind = UnreachableError if unsent else RetryableError
            raise kind(mask(f"{type(exc).__name__}: {exc}", self._secrets)) from None
        retry.sleep()
        return retry

    def _encode(self, payload: Any, compress: bool) -> tuple[Optional[bytes], dict[str, str]]:
        headers = dict(self._headers)
        if payload is None:
            return None, headers
        body = jsonlib.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        headers["Content-Type"] = "application/json"
        if compress:
            body = gzip.compress(body, compresslevel=5)
            headers["Content-Encoding"] = "gzip"
        return body, headers

    def _timeouts(self) -> tuple[float, float]:
        # Once the run has ended, no single request may outlive the deadline.
        connect = max(0.1, self.deadline.cap(self.options.connect_timeout))
        read = max(0.1, self.deadline.cap(self.options.read_timeout))
        return connect, read

    def _rejected(self, response: requests.Response) -> RejectedError:
        hint = self.auth_hint if response.status_code in (401, 403) else None
        body = mask(response.text[:2000], self._secrets)
        return RejectedError(response.status_code, response.reason or "", body.strip(), hint)

    def _log(self, method: str, url: str, outcome: str, started: float) -> None:
        if self.debug is not None:
            elapsed = (time.monotonic() - started) * 1000
            self.debug.write(self.name, mask(f"{method} {url} -> {outcome} ({elapsed:.0f} ms)",
                                             self._secrets))  # fmt: skip

    def _dry_run(self, method: str, url: str, payload: Any) -> requests.Response:
        if self.debug is not None:
            text = jsonlib.dumps(payload, ensure_ascii=False, default=str)
            self.debug.write(self.name, mask(f"DRY-RUN {method} {url} {text}", self._secrets))
        import requests

        response = requests.Response()
        response.status_code = 200
        response._content = b"{}"
        response.url = url
        return response
