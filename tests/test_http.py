"""The shared HTTP layer: retries, backoff, deadline, rate limit, error mapping, redaction."""

from __future__ import annotations

import email.utils
import threading
import time

import httpx
import pytest

from numbers_iac import __version__
from numbers_iac.errors import (
    AuthError,
    NotFoundError,
    ProviderError,
    RateLimitedError,
    TransientError,
)
from numbers_iac.providers.http import HttpClient, RateLimiter, basic_auth_header

TOKEN = "s3cr3t-token-XYZ"
USER = "MAUSER0000000000"


class FakeTime:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self, start: float = 1000.0):
        self.now = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


class Script:
    """A MockTransport handler answering from a list, recording each request."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def make_client(handler, fake: FakeTime | None = None, **kwargs) -> HttpClient:
    fake = fake or FakeTime()
    kwargs.setdefault("jitter", lambda: 1.0)
    return HttpClient(
        "acme",
        "https://api.acme.invalid",
        auth=(USER, TOKEN),
        transport=httpx.MockTransport(handler),
        secrets=[TOKEN],
        sleep=fake.sleep,
        clock=fake.clock,
        wall_clock=fake.clock,
        error_text=lambda r: r.json().get("error"),
        **kwargs,
    )


def error(status: int, text: str = "boom", **headers) -> httpx.Response:
    return httpx.Response(status, json={"error": text}, headers=headers)


OK = httpx.Response(200, json={"ok": True})


def test_get_retries_429_honouring_retry_after_seconds():
    fake = FakeTime()
    script = Script(error(429, **{"Retry-After": "7"}), error(429, **{"Retry-After": "3"}), OK)
    client = make_client(script, fake)
    response = client.request("GET", "/things/", operation="list things")
    assert response.json() == {"ok": True}
    assert len(script.requests) == 3
    assert fake.sleeps == [7.0, 3.0]


def test_retry_after_as_http_date_waits_until_that_time():
    fake = FakeTime(start=1_700_000_000.0)
    when = email.utils.formatdate(fake.now + 30, usegmt=True)
    script = Script(error(429, **{"Retry-After": when}), OK)
    make_client(script, fake).request("GET", "/things/", operation="list things")
    assert fake.sleeps == [pytest.approx(30.0, abs=1.0)]


def test_without_retry_after_backoff_doubles_under_full_jitter():
    fake = FakeTime()
    script = Script(error(503), error(503), error(503), OK)
    client = make_client(script, fake, backoff_base=0.5, jitter=lambda: 1.0)
    client.request("GET", "/things/", operation="list things")
    assert fake.sleeps == [0.5, 1.0, 2.0]

    fake = FakeTime()
    client = make_client(Script(error(429), error(429), OK), fake, jitter=lambda: 0.25)
    client.request("GET", "/things/", operation="list things")
    assert fake.sleeps == [0.125, 0.25]  # jitter picks a point in [0, ceiling)


def test_backoff_ceiling_is_capped():
    fake = FakeTime()
    script = Script(error(500), error(500), error(500), error(500), OK)
    client = make_client(script, fake, backoff_base=10, backoff_max=15, deadline=1000)
    client.request("GET", "/x/", operation="read x")
    assert fake.sleeps == [10, 15, 15, 15]


def test_server_error_then_success_and_timeouts_are_retried_for_reads():
    script = Script(error(502), httpx.ReadTimeout("slow"), httpx.ConnectError("refused"), OK)
    response = make_client(script).request("GET", "/x/", operation="read x")
    assert response.status_code == 200
    assert len(script.requests) == 4


@pytest.mark.parametrize("failure", [error(503), error(429), httpx.ReadTimeout("slow")])
def test_mutations_are_not_retried(failure):
    fake = FakeTime()
    script = Script(failure, OK)
    client = make_client(script, fake)
    with pytest.raises((TransientError, RateLimitedError)) as caught:
        client.request("POST", "/buy/", operation="buy a number", json={})
    assert len(script.requests) == 1
    assert fake.sleeps == []
    assert "buy a number" in str(caught.value)


def test_a_read_cut_off_by_close_ends_quietly_instead_of_retrying():
    """The apps are read on a thread beside the listing; when the listing fails the command
    closes its clients, cutting that read off. It must end there: a retry line printed after
    the command's error would tell the user the tool is still at work."""
    notices = []
    fake = FakeTime()
    holder: list[HttpClient] = []

    def cut_off(request):
        holder[0].close()  # the command ends while this read is on the wire
        raise httpx.ReadError("connection closed")

    client = make_client(cut_off, fake, on_retry=notices.append)
    holder.append(client)
    with pytest.raises(TransientError):
        client.request("GET", "/apps/", operation="list applications")
    assert notices == [] and fake.sleeps == []
    with pytest.raises(ProviderError, match="not sent: the client was closed"):
        client.request("GET", "/apps/", operation="list applications")


def test_a_client_closed_while_its_rate_limiter_waits_sends_nothing():
    """The close can land after the request's own check (in the rate limiter's wait, before
    the send): httpx then refuses to send, which is said in the same words, no traceback."""

    class ClosedWhileWaiting(FakeTime):
        def sleep(self, seconds: float) -> None:
            super().sleep(seconds)
            client.close()

    script = Script(OK)
    client = make_client(script, ClosedWhileWaiting(), rate_limit=(1, 1.0))
    client.request("GET", "/a/", operation="read a")  # takes the one slot of this second
    with pytest.raises(ProviderError, match="not sent: the client was closed"):
        client.request("GET", "/b/", operation="read b")
    assert len(script.requests) == 1


def test_a_retry_whose_wait_outlives_the_client_keeps_what_the_attempt_may_have_done():
    """An idempotent write answered by a dropped connection may have happened: when the
    client is closed during the wait before its retry, the error still says so, and the
    write is not sent again through a closed client."""

    class ClosedWhileWaiting(FakeTime):
        def sleep(self, seconds: float) -> None:
            super().sleep(seconds)
            client.close()

    script = Script(httpx.ReadError("dropped"), OK)
    client = make_client(script, ClosedWhileWaiting())
    with pytest.raises(TransientError) as caught:
        client.request("POST", "/bind/", operation="bind a number", retry=True)
    assert caught.value.maybe_sent
    assert len(script.requests) == 1


def test_idempotent_mutation_can_opt_in_to_retries():
    script = Script(error(503), httpx.Response(202, json={}))
    response = make_client(script).request("POST", "/set/", operation="set x", retry=True)
    assert response.status_code == 202
    assert [r.method for r in script.requests] == ["POST", "POST"]


def test_persistent_429_raises_rate_limited_after_max_retries():
    script = Script(error(429, "slow down"))
    with pytest.raises(RateLimitedError) as caught:
        make_client(script, max_retries=3).request("GET", "/n/", operation="list owned numbers")
    assert len(script.requests) == 4
    message = str(caught.value)
    assert message.startswith("provider acme: list owned numbers failed (HTTP 429): slow down")
    assert "4 attempts" in message


def test_persistent_5xx_raises_transient():
    with pytest.raises(TransientError) as caught:
        make_client(Script(error(500, "db down")), max_retries=2).request(
            "GET", "/n/", operation="list owned numbers"
        )
    assert caught.value.status == 500
    assert "db down" in str(caught.value)


def test_deadline_stops_retrying_before_a_long_wait():
    fake = FakeTime()
    script = Script(error(429, **{"Retry-After": "5"}), error(429, **{"Retry-After": "100"}), OK)
    client = make_client(script, fake, deadline=60)
    with pytest.raises(RateLimitedError) as caught:
        client.request("GET", "/n/", operation="list owned numbers")
    assert fake.sleeps == [5.0]  # never slept the 100 s that would pass the deadline
    assert "60s deadline" in str(caught.value)


def test_deadline_bounds_total_time_of_many_retries():
    fake = FakeTime()
    client = make_client(Script(error(503)), fake, max_retries=50, deadline=20, backoff_max=4)
    start = fake.now
    with pytest.raises(TransientError):
        client.request("GET", "/n/", operation="read")
    assert fake.now - start <= 20


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (401, AuthError),
        (403, AuthError),
        (404, NotFoundError),
        (400, ProviderError),
        (422, ProviderError),
    ],
)
def test_http_errors_map_to_typed_errors_without_retry(status, kind):
    script = Script(error(status, "the provider says no"))
    with pytest.raises(ProviderError) as caught:
        make_client(script).request("GET", "/n/17/", operation="read number 17")
    assert type(caught.value) is kind
    assert len(script.requests) == 1
    assert str(caught.value) == (
        f"provider acme: read number 17 failed (HTTP {status}): the provider says no"
    )


def test_error_body_echoing_credentials_is_redacted():
    header = basic_auth_header(USER, TOKEN)
    body = f"bad token {TOKEN} in header 'Authorization: {header}' raw={header[6:]}"
    with pytest.raises(AuthError) as caught:
        make_client(Script(error(401, body))).request("GET", "/n/", operation="read")
    message = str(caught.value)
    assert TOKEN not in message
    assert header[6:] not in message
    assert message.count("***") == 3


def test_transport_exception_text_is_redacted_and_wrapped():
    url = f"https://{USER}:{TOKEN}@api.acme.invalid/n/?token={TOKEN}"
    script = Script(httpx.ConnectError(f"cannot reach {url}"))
    with pytest.raises(TransientError) as caught:
        make_client(script, max_retries=1).request("GET", "/n/", operation="list numbers")
    error_ = caught.value
    assert TOKEN not in str(error_)
    assert "***" in str(error_)
    assert "could not connect" in str(error_)
    # the raw httpx exception (whose text holds the token) is not chained into tracebacks
    assert error_.__cause__ is None
    assert error_.__context__ is None or error_.__suppress_context__


def test_non_transport_httpx_errors_become_provider_errors():
    script = Script(httpx.DecodingError(f"garbled {TOKEN}"))
    with pytest.raises(ProviderError) as caught:
        make_client(script).request("GET", "/n/", operation="read")
    assert TOKEN not in str(caught.value)


def test_secret_url_encoded_form_is_redacted_too():
    token = "a/b+c=d"
    client = HttpClient(
        "acme",
        "https://api.acme.invalid",
        transport=httpx.MockTransport(lambda r: error(400, "x")),
        secrets=[token],
    )
    assert client.redact("q=a%2Fb%2Bc%3Dd and a/b+c=d") == "q=*** and ***"


def test_user_agent_and_basic_auth_are_sent():
    script = Script(OK)
    make_client(script).request("GET", "/n/", operation="read")
    sent = script.requests[0]
    assert sent.headers["User-Agent"] == f"numbers-iac/{__version__}"
    assert sent.headers["Authorization"] == basic_auth_header(USER, TOKEN)


def test_rate_limiter_spaces_requests_with_a_fake_clock():
    fake = FakeTime(start=0.0)
    limiter = RateLimiter(3, 1.0, clock=fake.clock, sleep=fake.sleep)
    times = []
    for _ in range(7):
        limiter.acquire()
        times.append(fake.now)
    assert times == [0, 0, 0, 1, 1, 1, 2]


def test_client_applies_its_rate_limit_to_every_attempt():
    fake = FakeTime(start=0.0)
    client = make_client(Script(OK), fake, rate_limit=(2, 5.0))
    for _ in range(5):
        client.request("GET", "/n/", operation="read")
    assert fake.now == 10.0  # requests 3-4 wait for the first window, 5 for the second


def test_rate_limiter_is_thread_safe():
    limiter = RateLimiter(5, 0.2)
    stamps: list[float] = []
    lock = threading.Lock()

    def worker():
        for _ in range(3):
            limiter.acquire()
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stamps.sort()
    assert len(stamps) == 15
    for i, start in enumerate(stamps):
        in_window = [s for s in stamps[i:] if s < start + 0.19]
        assert len(in_window) <= 5
