"""The one HTTP layer every provider adapter talks through.

It owns what every provider needs and none should re-implement: a User-Agent, retries with
backoff for reads only, a client-side rate limit, one mapping from HTTP failures to
`numbers_iac.errors`, and redaction of credentials from every message it produces. Adapters
never see an httpx exception.
"""

from __future__ import annotations

import base64
import email.utils
import random
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import httpx

from numbers_iac import __version__
from numbers_iac.errors import (
    AuthError,
    NotFoundError,
    ProviderError,
    RateLimitedError,
    TransientError,
)

USER_AGENT = f"numbers-iac/{__version__}"
REDACTED = "***"

Sleep = Callable[[float], None]
Clock = Callable[[], float]
ErrorText = Callable[[httpx.Response], "str | None"]

_RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


class RateLimiter:
    """A sliding-window limiter: at most `requests` calls in any `per_seconds` window.

    Thread-safe; a caller that would exceed the limit sleeps (outside the lock) until the
    oldest call in the window ages out. Clock and sleep are injectable for tests.
    """

    def __init__(
        self,
        requests: int,
        per_seconds: float,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ):
        if requests < 1 or per_seconds <= 0:
            raise ValueError("a rate limit needs at least 1 request per positive period")
        self.requests = requests
        self.per_seconds = per_seconds
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Block until one more request fits in the window, then count it."""
        while True:
            with self._lock:
                now = self._clock()
                while self._sent and self._sent[0] <= now - self.per_seconds:
                    self._sent.popleft()
                if len(self._sent) < self.requests:
                    self._sent.append(now)
                    return
                wait = self._sent[0] + self.per_seconds - now
            self._sleep(max(wait, 0.0))


class Redactor:
    """Replaces every known secret (and its URL-encoded and Basic-header forms) by `***`."""

    def __init__(self, secrets: Iterable[str]):
        forms: set[str] = set()
        for secret in secrets:
            if not secret:
                continue
            forms.add(secret)
            forms.add(urllib.parse.quote(secret, safe=""))
            forms.add(urllib.parse.quote_plus(secret))
        # Longest first, so a secret containing another is replaced whole.
        self._forms = sorted(forms, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for form in self._forms:
            text = text.replace(form, REDACTED)
        return text


def basic_auth_header(user: str, password: str) -> str:
    """The value of an `Authorization: Basic ...` header, as httpx would send it."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Parse a `Retry-After` header: delta-seconds or an HTTP date. None when absent/invalid."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    wall = time.time() if now is None else now
    return max(when.timestamp() - wall, 0.0)


def default_error_text(response: httpx.Response) -> str | None:
    """The body's text, shortened: used when an adapter gives no better extractor."""
    text = response.text.strip()
    return text[:300] if text else None


class HttpClient:
    """An httpx client bound to one provider account.

    `request()` returns the response for any 2xx/3xx status and raises a typed
    `ProviderError` otherwise. Reads (GET) are retried on 429, 5xx, timeouts and connection
    errors with exponential backoff and full jitter, honouring `Retry-After`, within
    `deadline` seconds in total; mutations are not retried unless the caller says the call
    is idempotent (`retry=True`), because a retried purchase may buy twice.
    """

    def __init__(
        self,
        provider_name: str,
        base_url: str,
        *,
        auth: tuple[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        max_retries: int = 8,
        rate_limit: tuple[int, float] | None = None,
        transport: httpx.BaseTransport | None = None,
        secrets: Iterable[str] = (),
        error_text: ErrorText = default_error_text,
        deadline: float = 120.0,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        sleep: Sleep = time.sleep,
        clock: Clock = time.monotonic,
        jitter: Callable[[], float] = random.random,
        wall_clock: Clock = time.time,
    ):
        self.provider_name = provider_name
        self.max_retries = max_retries
        self.deadline = deadline
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._sleep = sleep
        self._clock = clock
        self._jitter = jitter
        self._wall_clock = wall_clock
        self._error_text = error_text
        all_secrets = list(secrets)
        if auth is not None:
            header = basic_auth_header(*auth)
            all_secrets += [auth[1], header, header.removeprefix("Basic ")]
        self.redact = Redactor(all_secrets)
        self.limiter = (
            RateLimiter(rate_limit[0], rate_limit[1], clock=clock, sleep=sleep)
            if rate_limit
            else None
        )
        self._client = httpx.Client(
            base_url=base_url,
            auth=httpx.BasicAuth(*auth) if auth else None,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})},
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )

    # ----------------------------------------------------------------- public
    def request(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        retry: bool | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        """Send one request; retry if allowed; return a successful response or raise.

        `operation` is human words ("list owned numbers") used in error messages.
        """
        method = method.upper()
        retry = (method == "GET") if retry is None else retry
        started = self._clock()
        attempt = 0
        while True:
            if self.limiter is not None:
                self.limiter.acquire()
            response, failure = self._send(method, path, params, json, operation)
            retryable = failure is not None or response.status_code in _RETRYABLE_STATUS
            if not retryable:
                return self._checked(response, operation)
            delay = self._next_delay(response, attempt) if retry else None
            if delay is None or attempt >= self.max_retries:
                raise self._final_error(response, failure, operation, attempt)
            if self._clock() + delay - started > self.deadline:
                raise self._final_error(response, failure, operation, attempt, deadline=True)
            self._sleep(delay)
            attempt += 1

    def get_json(self, path: str, *, operation: str, params: Mapping[str, Any] | None = None):
        """GET and decode the JSON body."""
        return self.json_of(
            self.request("GET", path, operation=operation, params=params), operation
        )

    def json_of(self, response: httpx.Response, operation: str) -> Any:
        """Decode a response body as JSON, or raise a ProviderError saying it was not JSON."""
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ProviderError(
                self.provider_name,
                operation,
                self.redact(f"the response was not JSON: {response.text[:200]!r}"),
                response.status_code,
            ) from None

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ----------------------------------------------------------------- internals
    def _send(self, method, path, params, json, operation):
        try:
            return self._client.request(method, path, params=params, json=json), None
        except httpx.TransportError as exc:  # timeouts, refused/dropped connections
            return None, exc
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
            raise ProviderError(self.provider_name, operation, self._describe(exc)) from None

    def _next_delay(self, response: httpx.Response | None, attempt: int) -> float:
        if response is not None:
            hinted = retry_after_seconds(
                response.headers.get("Retry-After"), now=self._wall_clock()
            )
            if hinted is not None:
                return hinted
        ceiling = min(self.backoff_max, self.backoff_base * (2**attempt))
        return self._jitter() * ceiling

    def _checked(self, response: httpx.Response, operation: str) -> httpx.Response:
        status = response.status_code
        if status < 400:
            return response
        detail = self._detail(response)
        cls = {401: AuthError, 403: AuthError, 404: NotFoundError}.get(status, ProviderError)
        raise cls(self.provider_name, operation, detail, status)

    def _final_error(self, response, failure, operation, attempt, deadline=False) -> ProviderError:
        tries = f" after {attempt + 1} attempts" if attempt else ""
        if deadline:
            tries += f" (gave up: retrying would pass the {self.deadline:g}s deadline)"
        if failure is not None:
            return TransientError(self.provider_name, operation, self._describe(failure) + tries)
        status = response.status_code
        detail = self._detail(response) + tries
        cls = RateLimitedError if status == 429 else TransientError
        return cls(self.provider_name, operation, detail, status)

    def _detail(self, response: httpx.Response) -> str:
        try:
            text = self._error_text(response)
        except Exception:  # a malformed error body must not hide the HTTP status
            text = None
        if not text:
            text = response.reason_phrase or "no error text"
        return self.redact(str(text))

    def _describe(self, exc: Exception) -> str:
        kind = type(exc).__name__
        if isinstance(exc, httpx.TimeoutException):
            what = "timed out"
        elif isinstance(exc, httpx.ConnectError):
            what = "could not connect"
        else:
            what = "connection failed"
        text = str(exc) or kind
        return self.redact(f"{what} ({kind}: {text})")
