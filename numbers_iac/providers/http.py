"""The one HTTP layer every provider adapter talks through.

It owns what every provider needs and none should re-implement: a User-Agent, pluggable
authentication (`numbers_iac.providers.auth`), JSON and form bodies, retries with backoff for
reads only (announced as they happen), a client-side rate limit, one mapping from HTTP
failures and from errors hidden in 200 bodies to `numbers_iac.errors`, and redaction of
credentials from every message it produces. Adapters never see an httpx exception. Listing
many pages goes through `numbers_iac.providers.paging`.
"""

from __future__ import annotations

import email.utils
import ipaddress
import random
import re
import sys
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
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
from numbers_iac.providers.auth import BasicAuth, basic_auth_header
from numbers_iac.render.escape import for_terminal

__all__ = [
    "BodyFault",
    "HttpClient",
    "RateLimiter",
    "Redactor",
    "RetryNotice",
    "base_url_problem",
    "basic_auth_header",
    "default_error_text",
    "retry_after_seconds",
    "stderr_retry_notice",
]

USER_AGENT = f"numbers-iac/{__version__}"
REDACTED = "***"
ERROR_TEXT_LIMIT = 300

Sleep = Callable[[float], None]
Clock = Callable[[], float]
ErrorText = Callable[[httpx.Response], "str | None"]
#: reads survive this many 429/5xx in a row (the deadline still bounds the wait)
DEFAULT_MAX_RETRIES = 8

_RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
# A signed JWT (header.payload.signature, both JSON parts start with `{"` = `eyJ`): bearer
# tokens are minted per request, so they cannot be listed as secrets in advance.
JWT_PATTERN = re.compile(r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
# Failures where no connection was made, so the request cannot have reached the provider.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


#: the settings schema of `timeout` and `max_retries`, which every HTTP adapter takes and
#: `client_for` reads
TIMEOUT_SETTING: Mapping[str, Any] = {
    "description": "seconds to wait for one HTTP response (default 30).",
    "type": "number",
    "exclusiveMinimum": 0,
    "maximum": 600,
}
MAX_RETRIES_SETTING: Mapping[str, Any] = {
    "description": "retries of a failed read on 429/5xx/timeouts (default 8).",
    "type": "integer",
    "minimum": 0,
    "maximum": 50,
}


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
    """Replaces every known secret (and its URL-encoded forms) and every text matching one
    of `patterns` by `***`."""

    def __init__(self, secrets: Iterable[str], patterns: Iterable[re.Pattern[str]] = ()):
        forms: set[str] = set()
        for secret in secrets:
            if not secret:
                continue
            forms.add(secret)
            forms.add(urllib.parse.quote(secret, safe=""))
            forms.add(urllib.parse.quote_plus(secret))
        # Longest first, so a secret containing another is replaced whole.
        self._forms = sorted(forms, key=len, reverse=True)
        self._patterns = tuple(patterns)

    def __call__(self, text: str) -> str:
        for form in self._forms:
            text = text.replace(form, REDACTED)
        for pattern in self._patterns:
            text = pattern.sub(REDACTED, text)
        return text


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


def base_url_problem(url: str) -> str | None:
    """Why `url` cannot be an API root, in words (without repeating the URL); None when it
    can. The loader asks first, with the line of `base_url`; `HttpClient` asks again, so a
    URL httpx cannot parse or a host name IDNA refuses fails before any socket is opened."""
    try:
        parsed = httpx.URL(url)
        host_name = parsed.host  # decoding an `xn--` host may raise here
    except httpx.InvalidURL as exc:
        if "IDNA" in str(exc):
            return "the host name is not a valid internationalised domain name"
        return f"not a valid URL ({exc})"
    except UnicodeError as exc:  # the idna package refusing the host
        return f"the host name is not a valid domain name ({exc})"
    if parsed.scheme not in ("http", "https"):
        return "expected an http:// or https:// URL"
    if not host_name:
        return "the URL has no host name"
    if parsed.port is not None and not 0 < parsed.port < 65536:
        return f"the port {parsed.port} is not between 1 and 65535"
    host = parsed.raw_host.decode("ascii")
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    try:
        host.encode("idna")  # what the socket layer does with the host at connect time
    except UnicodeError as exc:
        reason = exc.args[0] if exc.args else type(exc).__name__
        return f"the host name is not a valid domain name ({reason})"
    return None


def default_error_text(response: httpx.Response) -> str | None:
    """The body's text: used when an adapter gives no better extractor. The client shortens
    it to `ERROR_TEXT_LIMIT` characters, after redaction, so no secret is cut in half."""
    text = response.text.strip()
    return text or None


@dataclass(frozen=True)
class BodyFault:
    """An error the provider reported inside a response body, as a `body_error` hook found it
    (Voximplant's `{"error": {"code", "msg"}}` with HTTP 200, a JSON-RPC `error` member).

    `detail` is the provider's own words, ideally with its code ("Invalid arguments (101)");
    `error` the `ProviderError` class to raise, chosen by the adapter from the code;
    `transient` marks an error worth retrying (rate limit, "try later"): the client retries
    it only when the request may be retried, i.e. reads and calls made with `retry=True`;
    `retry_after` is the provider's hint in seconds, if it gave one.
    """

    detail: str
    error: type[ProviderError] = ProviderError
    transient: bool = False
    retry_after: float | None = None


BodyErrorHook = Callable[[Any], "BodyFault | ProviderError | None"]


@dataclass(frozen=True)
class RetryNotice:
    """One retry about to happen, for the person watching: `str()` is the line to show."""

    provider: str
    operation: str
    delay: float
    retry: int
    limit: int
    reason: str

    def __str__(self) -> str:
        return (
            f"{self.provider}: retrying in {_seconds(self.delay)} s ({self.retry}/{self.limit}): "
            f"{self.reason} ({self.operation})"
        )


def stderr_retry_notice(notice: RetryNotice) -> None:
    """The default `on_retry`: one line on stderr, so a slow run never looks hung."""
    print(notice, file=sys.stderr, flush=True)


def _seconds(delay: float) -> str:
    if delay >= 10:
        return f"{delay:.0f}"
    return f"{delay:.2f}".rstrip("0").rstrip(".") or "0"


#: why a request on a thread the command no longer waits for was not sent
CLOSED = "not sent: the client was closed"

_UNSET = object()
_NOT_JSON = object()
_JSON_KEY = "numbers_iac.json"


def _decoded(response: httpx.Response) -> Any:
    """The JSON body (None when empty, `_NOT_JSON` when unparsable), decoded once per response
    however many times the hook and the adapter ask for it."""
    body = response.extensions.get(_JSON_KEY, _UNSET)
    if body is _UNSET:
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = _NOT_JSON
        response.extensions[_JSON_KEY] = body
    return body


@dataclass(frozen=True)
class _Attempt:
    """What one send produced: a response (possibly carrying a body fault) or a failure."""

    response: httpx.Response | None = None
    failure: httpx.TransportError | None = None
    fault: BodyFault | ProviderError | None = None

    @property
    def ok(self) -> bool:
        return self.response is not None and self.fault is None and self.status < 400

    @property
    def status(self) -> int:
        return self.response.status_code if self.response is not None else 0

    @property
    def not_sent(self) -> bool:
        return isinstance(self.failure, _NOT_SENT)

    @property
    def transient(self) -> bool:
        if self.failure is not None or self.status in _RETRYABLE_STATUS:
            return True
        if isinstance(self.fault, BodyFault):
            return self.fault.transient
        return isinstance(self.fault, TransientError | RateLimitedError)


class HttpClient:
    """An httpx client bound to one provider account.

    `request()` returns the response for any 2xx/3xx status whose body holds no error, and
    raises a typed `ProviderError` otherwise. Reads (GET, and any call made with
    `retry=True`, such as a POST that only reads) are retried on 429, 5xx, timeouts,
    connection errors and body faults marked transient, with exponential backoff and full
    jitter, honouring `Retry-After`, within `deadline` seconds in total; mutations are never
    retried unless the caller says the call is idempotent (`retry=True`), because a retried
    purchase may buy twice. A connection that cannot be made at all is retried only
    `connect_retries` times with short waits, so a wrong address fails in seconds. Each
    retry is announced through `on_retry` (default: one line on stderr).

    `auth` is a `(user, password)` pair for HTTP Basic or any `httpx.Auth` (see
    `numbers_iac.providers.auth`); the `secrets` an auth object exposes are redacted from
    every message, together with `secrets` and anything shaped like a JWT.

    `body_error(body)` receives every decoded JSON body, whatever the status, and returns
    None, a `BodyFault`, or a `ProviderError` to raise as is. A fault wins over the status:
    it is how a provider that answers errors with HTTP 200 gets typed errors.
    """

    def __init__(
        self,
        provider_name: str,
        base_url: str,
        *,
        auth: tuple[str, str] | httpx.Auth | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        max_retries: int = 8,
        connect_retries: int = 2,
        connect_backoff: float = 0.5,
        rate_limit: tuple[int, float] | None = None,
        transport: httpx.BaseTransport | None = None,
        secrets: Iterable[str] = (),
        error_text: ErrorText = default_error_text,
        body_error: BodyErrorHook | None = None,
        on_retry: Callable[[RetryNotice], None] = stderr_retry_notice,
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
        self.connect_retries = connect_retries
        self.connect_backoff = connect_backoff
        self.deadline = deadline
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._sleep = sleep
        self._clock = clock
        self._jitter = jitter
        self._wall_clock = wall_clock
        self._error_text = error_text
        self._body_error = body_error
        self._on_retry = on_retry
        #: set by `close()`: a request still running on another thread (the apps read
        #: beside a listing that failed) then ends with its own error instead of being
        #: retried and announced after the command's error line
        self._closed = threading.Event()
        if isinstance(auth, tuple):
            auth = BasicAuth(*auth)
        self.redact = Redactor([*secrets, *getattr(auth, "secrets", ())], [JWT_PATTERN])
        problem = base_url_problem(base_url)
        if problem is not None:
            raise ProviderError(provider_name, "use base_url", self.shown(problem))
        self.limiter = (
            RateLimiter(rate_limit[0], rate_limit[1], clock=clock, sleep=sleep)
            if rate_limit
            else None
        )
        self._client = httpx.Client(
            base_url=base_url,
            auth=auth,
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
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request; retry if allowed; return a successful response or raise.

        `operation` is human words ("list owned numbers") used in error messages. `json=`
        sends a JSON body, `data=` a form-encoded one. `retry` defaults to True for GET only.
        """
        method = method.upper()
        retry = (method == "GET") if retry is None else retry
        send = {"params": params, "json": json, "data": data, "headers": headers}
        started = self._clock()
        retries = connect_retries = 0
        maybe_sent = False
        if self._closed.is_set():
            raise ProviderError(self.provider_name, operation, CLOSED)
        while True:
            if self.limiter is not None:
                self.limiter.acquire()
            attempt = self._attempt(method, path, operation, send)
            if attempt.ok:
                return attempt.response
            maybe_sent = maybe_sent or not attempt.not_sent
            give_up = not (retry and attempt.transient) or retries >= self.max_retries
            if attempt.not_sent:
                give_up = give_up or connect_retries >= self.connect_retries
                delay = min(self.connect_backoff * 2**connect_retries, 2.0)
                notice = (connect_retries + 1, self.connect_retries)
            else:
                delay = self._next_delay(attempt, retries)
                notice = (retries + 1, self.max_retries)
            if give_up or self._closed.is_set():
                raise self._error(attempt, operation, retries + 1, maybe_sent)
            if self._clock() + delay - started > self.deadline:
                raise self._error(attempt, operation, retries + 1, maybe_sent, deadline=True)
            self._on_retry(
                RetryNotice(self.provider_name, operation, delay, *notice, self._reason(attempt))
            )
            self._sleep(delay)
            if self._closed.is_set():  # closed while waiting: what the last attempt did stands
                raise self._error(attempt, operation, retries + 1, maybe_sent)
            retries += 1
            connect_retries += attempt.not_sent

    def request_json(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        retry: bool | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """`request()` and decode the JSON body (None when the body is empty)."""
        response = self.request(
            method,
            path,
            operation=operation,
            retry=retry,
            params=params,
            json=json,
            data=data,
            headers=headers,
        )
        return self.json_of(response, operation)

    def get_json(self, path: str, *, operation: str, params: Mapping[str, Any] | None = None):
        """GET and decode the JSON body."""
        return self.request_json("GET", path, operation=operation, params=params)

    def json_of(self, response: httpx.Response, operation: str) -> Any:
        """Decode a response body as JSON, or raise a ProviderError saying it was not JSON."""
        body = _decoded(response)
        if body is _NOT_JSON:
            excerpt = self.shown(response.text, limit=200)
            raise ProviderError(
                self.provider_name,
                operation,
                f"the response was not JSON: '{excerpt}'",
                response.status_code,
            )
        return body

    def shown(self, text: str, limit: int = ERROR_TEXT_LIMIT) -> str:
        """Provider (or exception) text fit for a message: secrets redacted first, then
        control characters made visible (one line, nothing a terminal acts on), and only
        then shortened, so no secret is ever cut in half and left unrecognised."""
        visible = for_terminal(self.redact(text))
        return visible if len(visible) <= limit else visible[: limit - 1] + "…"

    def close(self) -> None:
        self._closed.set()
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ----------------------------------------------------------------- internals
    def _attempt(self, method: str, path: str, operation: str, send: dict[str, Any]) -> _Attempt:
        try:
            response = self._client.request(method, path, **send)
        except httpx.UnsupportedProtocol as exc:  # a wrong base URL does not heal by waiting
            raise ProviderError(self.provider_name, operation, self._describe(exc)) from None
        except httpx.TransportError as exc:  # timeouts, refused/dropped connections
            return _Attempt(failure=exc)
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
            raise ProviderError(self.provider_name, operation, self._describe(exc)) from None
        except UnicodeError as exc:  # a host IDNA refuses, should one get past the checks
            raise ProviderError(self.provider_name, operation, self._describe(exc)) from None
        except RuntimeError:  # httpx refuses to send through a client closed meanwhile
            if not self._closed.is_set():
                raise
            raise ProviderError(self.provider_name, operation, CLOSED) from None
        fault = None
        if self._body_error is not None:
            body = _decoded(response)
            if body is not None and body is not _NOT_JSON:
                fault = self._body_error(body)
        return _Attempt(response=response, fault=fault)

    def _next_delay(self, attempt: _Attempt, retries: int) -> float:
        if isinstance(attempt.fault, BodyFault) and attempt.fault.retry_after is not None:
            return max(attempt.fault.retry_after, 0.0)
        if attempt.response is not None:
            hinted = retry_after_seconds(
                attempt.response.headers.get("Retry-After"), now=self._wall_clock()
            )
            if hinted is not None:
                return hinted
        ceiling = min(self.backoff_max, self.backoff_base * (2**retries))
        return self._jitter() * ceiling

    def _error(
        self,
        attempt: _Attempt,
        operation: str,
        attempts: int,
        maybe_sent: bool,
        deadline: bool = False,
    ) -> ProviderError:
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        if deadline:
            tries += f" (gave up: retrying would pass the {self.deadline:g}s deadline)"
        name = self.provider_name
        if attempt.failure is not None:
            detail = self._describe(attempt.failure) + tries
            return TransientError(name, operation, detail, maybe_sent=maybe_sent)
        if isinstance(attempt.fault, ProviderError):
            return self._redacted(attempt.fault)
        status = attempt.status
        if isinstance(attempt.fault, BodyFault):
            detail, cls = self.shown(attempt.fault.detail), attempt.fault.error
        else:
            detail = self._detail(attempt.response)
            cls = {401: AuthError, 403: AuthError, 404: NotFoundError}.get(status, ProviderError)
        if cls is ProviderError and attempt.transient:
            cls = RateLimitedError if status == 429 else TransientError
        shown_status = status if status >= 400 else None  # "(HTTP 200)" would only confuse
        if issubclass(cls, TransientError):
            return cls(name, operation, detail + tries, shown_status, maybe_sent=maybe_sent)
        return cls(name, operation, detail + tries, shown_status)

    def _redacted(self, error: ProviderError) -> ProviderError:
        error.detail = self.shown(error.detail)
        error.args = tuple(
            for_terminal(self.redact(a)) if isinstance(a, str) else a for a in error.args
        )
        return error

    def _reason(self, attempt: _Attempt) -> str:
        """The short cause shown in a retry line."""
        failure = attempt.failure
        if isinstance(failure, httpx.ConnectError | httpx.ConnectTimeout):
            return self._describe(failure)
        if isinstance(failure, httpx.TimeoutException):
            return "timed out"
        if failure is not None:
            return f"connection failed ({type(failure).__name__})"
        if isinstance(attempt.fault, BodyFault | ProviderError):
            return self.shown(attempt.fault.detail)
        return f"HTTP {attempt.status}"

    def _detail(self, response: httpx.Response) -> str:
        try:
            text = self._error_text(response)
        except Exception:  # a malformed error body must not hide the HTTP status
            text = None
        if not text:
            text = response.reason_phrase or "no error text"
        return self.shown(str(text))

    def _describe(self, exc: Exception) -> str:
        kind = type(exc).__name__
        text = str(exc) or kind
        if isinstance(exc, httpx.ConnectTimeout):
            what = f"could not connect to {self._address(exc)} (connection timed out)"
        elif isinstance(exc, httpx.ConnectError):
            reason = "connection refused" if "refused" in text.lower() else f"{kind}: {text}"
            what = f"could not connect to {self._address(exc)} ({reason})"
        elif isinstance(exc, httpx.TimeoutException):
            what = f"timed out ({kind}: {text})"
        else:
            what = f"connection failed ({kind}: {text})"
        return self.shown(what, limit=1000)

    def _address(self, exc: httpx.HTTPError) -> str:
        """`scheme://host:port` the failed request went to (never a path, query or userinfo)."""
        try:
            url = exc.request.url
        except RuntimeError:  # an exception raised without a request attached
            url = self._client.base_url
        return f"{url.scheme}://{url.netloc.decode('ascii')}"


def require_credentials(provider: str, found: Iterable[tuple[str, str, str]], hint: str) -> None:
    """Raise one error naming every missing credential as (setting, env var, value found),
    so an adapter never starts half-authenticated and the user fixes all of them at once."""
    missing = [f"{key} (or ${env})" for key, env, value in found if not value]
    if missing:
        raise ProviderError(
            provider,
            "read credentials",
            f"missing {' and '.join(missing)}: set them in the provider's settings or {hint}",
        )


def client_for(
    config: Any,
    base_url: str,
    *,
    auth: tuple[str, str] | httpx.Auth,
    secrets: Iterable[str],
    error_text: ErrorText,
    transport: httpx.BaseTransport | None = None,
    sleep: Sleep | None = None,
    clock: Clock | None = None,
    rate_limit: tuple[int, float] | None = None,
    body_error: BodyErrorHook | None = None,
    headers: Mapping[str, str] | None = None,
) -> HttpClient:
    """The HttpClient of one provider account, with the settings every HTTP provider takes
    (`timeout`, `max_retries`) read in one place; `sleep`/`clock` only when a test gives them."""
    settings = config.settings
    extra: dict[str, Any] = {}
    if sleep is not None:
        extra["sleep"] = sleep
    if clock is not None:
        extra["clock"] = clock
    return HttpClient(
        config.name,
        base_url.rstrip("/"),
        auth=auth,
        timeout=float(settings.get("timeout", 30.0)),
        max_retries=int(settings.get("max_retries", DEFAULT_MAX_RETRIES)),
        rate_limit=rate_limit,
        transport=transport,
        secrets=secrets,
        error_text=error_text,
        body_error=body_error,
        headers=headers,
        **extra,
    )
