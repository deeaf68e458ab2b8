"""HttpClient: errors inside 200 bodies, POST reads, connections that never open, retry lines,
form bodies."""

from __future__ import annotations

import socket
import urllib.parse

import httpx
import pytest

from numbers_iac.errors import (
    AuthError,
    NumberUnavailableError,
    ProviderError,
    RateLimitedError,
    TransientError,
)
from numbers_iac.providers.http import BodyFault, HttpClient, RetryNotice
from tests.test_http import OK, TOKEN, FakeTime, Script, error, make_client

# --------------------------------------------------------------------------- dialect hooks
VOXIMPLANT_RATE_LIMITED = {340, 162, 416, 515}
VOXIMPLANT_RETRYABLE = {1, 2, 4, 20, 368}


def voximplant_fault(body):
    """Voximplant's envelope: `{"error": {"msg", "code"}}`, usually with HTTP 200."""
    error_ = body.get("error") if isinstance(body, dict) else None
    if not error_:
        return None
    code = error_.get("code")
    detail = f"{error_.get('msg')} ({code})"
    if code in VOXIMPLANT_RATE_LIMITED:
        return BodyFault(detail, RateLimitedError, transient=True, retry_after=2.0)
    if code in VOXIMPLANT_RETRYABLE:
        return BodyFault(detail, transient=True)
    if code == 100:
        return BodyFault(detail, AuthError)
    return BodyFault(detail)


def callr_fault(body):
    """JSON-RPC 2.0: an `error` member instead of `result`."""
    error_ = body.get("error") if isinstance(body, dict) else None
    if not error_:
        return None
    if error_.get("code") == 31:
        return NumberUnavailableError("callr", "buy", f"{error_['message']}", None)
    return BodyFault(f"{error_.get('message')} (JSON-RPC error {error_.get('code')})")


def vox(code: int, msg: str) -> httpx.Response:
    return httpx.Response(200, json={"error": {"msg": msg, "code": code}})


VOX_OK = httpx.Response(200, json={"result": [], "count": 0, "total_count": 0})


def quiet(**kwargs):
    """Client kwargs that collect retry notices instead of printing them."""
    notices: list[RetryNotice] = []
    return notices, {"on_retry": notices.append, **kwargs}


# --------------------------------------------------------------------------- body_error
def test_error_in_a_200_body_raises_a_typed_error_with_the_providers_words():
    script = Script(vox(101, "Invalid arguments"))
    client = make_client(script, body_error=voximplant_fault)
    with pytest.raises(ProviderError) as caught:
        client.request("POST", "/GetPhoneNumbers", operation="list numbers", retry=True)
    assert type(caught.value) is ProviderError
    assert str(caught.value) == "provider acme: list numbers failed: Invalid arguments (101)"
    assert caught.value.status is None  # "(HTTP 200)" would mislead
    assert len(script.requests) == 1  # not transient: never retried


def test_body_fault_chooses_the_error_class():
    client = make_client(Script(vox(100, "Authorization failed")), body_error=voximplant_fault)
    with pytest.raises(AuthError, match="Authorization failed"):
        client.request("POST", "/GetPhoneNumbers", operation="list numbers", retry=True)


def test_transient_body_fault_is_retried_for_a_post_read_honouring_its_hint():
    fake = FakeTime()
    script = Script(vox(340, "Rate limit exceeded"), vox(340, "Rate limit exceeded"), VOX_OK)
    notices, extra = quiet(body_error=voximplant_fault)
    client = make_client(script, fake, **extra)
    body = client.request_json("POST", "/GetPhoneNumbers", operation="list numbers", retry=True)
    assert body["result"] == []
    assert len(script.requests) == 3
    assert fake.sleeps == [2.0, 2.0]
    assert [n.reason for n in notices] == ["Rate limit exceeded (340)"] * 2


def test_transient_body_fault_on_a_mutation_is_raised_at_once():
    fake = FakeTime()
    script = Script(vox(340, "Rate limit exceeded"), VOX_OK)
    client = make_client(script, fake, body_error=voximplant_fault)
    with pytest.raises(RateLimitedError, match=r"Rate limit exceeded \(340\)"):
        client.request("POST", "/AttachPhoneNumber", operation="buy", data={"phone_count": "1"})
    assert len(script.requests) == 1
    assert fake.sleeps == []


def test_persistent_transient_body_fault_ends_as_transient_error_after_the_retries():
    script = Script(vox(2, "Internal error"))
    notices, extra = quiet(body_error=voximplant_fault, max_retries=3)
    client = make_client(script, **extra)
    with pytest.raises(TransientError) as caught:
        client.request("POST", "/GetPhoneNumbers", operation="list numbers", retry=True)
    assert len(script.requests) == 4
    assert "Internal error (2) after 4 attempts" in str(caught.value)
    assert caught.value.maybe_sent is True
    assert [(n.retry, n.limit) for n in notices] == [(1, 3), (2, 3), (3, 3)]


def test_json_rpc_error_becomes_a_provider_error_with_its_message():
    body = {
        "jsonrpc": "2.0",
        "id": 7,
        "error": {"code": 22, "message": "Invalid DID", "data": None},
    }
    client = make_client(Script(httpx.Response(200, json=body)), body_error=callr_fault)
    with pytest.raises(ProviderError) as caught:
        client.request("POST", "/json-rpc/v1.1/", operation="reserve", json={})
    assert str(caught.value) == "provider acme: reserve failed: Invalid DID (JSON-RPC error 22)"


def test_hook_may_return_a_ready_exception_which_is_raised_as_is_and_redacted():
    body = {"jsonrpc": "2.0", "id": 7, "error": {"code": 31, "message": f"taken ({TOKEN})"}}
    client = make_client(Script(httpx.Response(200, json=body)), body_error=callr_fault)
    with pytest.raises(NumberUnavailableError) as caught:
        client.request("POST", "/json-rpc/v1.1/", operation="buy", json={})
    assert TOKEN not in str(caught.value)
    assert TOKEN not in caught.value.detail
    assert "taken (***)" in str(caught.value)


def test_body_fault_wins_over_an_http_error_status():
    response = httpx.Response(400, json={"error": {"msg": "Invalid phone number", "code": 121}})
    client = make_client(Script(response), body_error=voximplant_fault)
    with pytest.raises(ProviderError) as caught:
        client.request("POST", "/x", operation="bind", retry=True)
    assert str(caught.value) == "provider acme: bind failed (HTTP 400): Invalid phone number (121)"


def test_hook_sees_only_json_bodies_and_success_passes_through():
    seen = []

    def hook(body):
        seen.append(body)

    script = Script(httpx.Response(204), httpx.Response(200, text="<html>"), OK)
    client = make_client(script, body_error=hook)
    for _ in range(3):
        client.request("GET", "/x", operation="read")
    assert seen == [{"ok": True}]


def test_body_fault_detail_is_redacted():
    client = make_client(Script(vox(101, f"bad token {TOKEN}")), body_error=voximplant_fault)
    with pytest.raises(ProviderError) as caught:
        client.request("POST", "/x", operation="list", retry=True)
    assert TOKEN not in str(caught.value)


# --------------------------------------------------------------------------- POST reads
@pytest.mark.parametrize(
    "failure",
    [error(429), error(503), httpx.ReadTimeout("slow"), httpx.ConnectError("refused")],
)
def test_a_post_marked_as_read_is_retried(failure):
    script = Script(failure, OK)
    notices, extra = quiet()
    response = make_client(script, **extra).request(
        "POST", "/GetPhoneNumbers", operation="list numbers", retry=True, data={"count": "100"}
    )
    assert response.status_code == 200
    assert [r.method for r in script.requests] == ["POST", "POST"]
    assert [r.content for r in script.requests] == [b"count=100", b"count=100"]
    assert len(notices) == 1


@pytest.mark.parametrize(
    ("failure", "maybe_sent"),
    [
        (httpx.ConnectError("refused"), False),
        (httpx.ConnectTimeout("no route"), False),
        (httpx.ReadTimeout("slow"), True),
        (httpx.RemoteProtocolError("peer closed connection"), True),
        (error(502), True),
    ],
)
def test_a_mutation_is_never_retried_and_says_whether_it_may_have_been_sent(failure, maybe_sent):
    fake = FakeTime()
    script = Script(failure, OK)
    notices, extra = quiet()
    client = make_client(script, fake, **extra)
    with pytest.raises(TransientError) as caught:
        client.request("POST", "/buy", operation="buy", json={"n": 1}, retry=False)
    assert len(script.requests) == 1
    assert fake.sleeps == [] and notices == []
    assert caught.value.maybe_sent is maybe_sent


def test_maybe_sent_stays_true_once_any_attempt_may_have_reached_the_provider():
    script = Script(httpx.ReadTimeout("slow"), httpx.ConnectError("Connection refused"))
    client = make_client(script, on_retry=lambda n: None, max_retries=1)
    with pytest.raises(TransientError) as caught:
        client.request("PUT", "/label", operation="set label", retry=True)
    assert caught.value.maybe_sent is True


def test_transient_error_stays_backwards_compatible():
    error_ = TransientError("p", "op", "detail", 503)
    assert error_.maybe_sent is True
    assert str(error_) == "provider p: op failed (HTTP 503): detail"


# --------------------------------------------------------------------------- refused connects
def unused_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_refused_connection_fails_fast_naming_the_address():
    port = unused_loopback_port()
    fake = FakeTime()
    notices, extra = quiet()
    client = HttpClient(
        "plivo-eu",
        f"http://127.0.0.1:{port}",
        auth=("MAUSER", TOKEN),
        sleep=fake.sleep,
        clock=fake.clock,
        max_retries=8,
        **extra,
    )
    with client, pytest.raises(TransientError) as caught:
        client.request("GET", "/v1/Account/MAUSER/Number/", operation="list owned numbers")
    message = str(caught.value)
    assert f"could not connect to http://127.0.0.1:{port} (connection refused)" in message
    assert "after 3 attempts" in message  # two short retries, not eight
    assert caught.value.maybe_sent is False
    assert len(fake.sleeps) == 2 and sum(fake.sleeps) <= 2.0
    assert [(n.retry, n.limit) for n in notices] == [(1, 2), (2, 2)]


def test_refused_connection_on_a_mutation_is_not_sent():
    port = unused_loopback_port()
    client = HttpClient("acme", f"http://127.0.0.1:{port}", on_retry=lambda n: None)
    with client, pytest.raises(TransientError) as caught:
        client.request("POST", "/buy", operation="buy", json={})
    assert caught.value.maybe_sent is False
    assert f"127.0.0.1:{port}" in str(caught.value)


def test_connect_retries_count_separately_from_other_failures():
    refused = httpx.ConnectError("[Errno 111] Connection refused")
    script = Script(error(503), refused, error(503), refused, error(503), refused, OK)
    client = make_client(script, on_retry=lambda n: None)
    with pytest.raises(TransientError, match="connection refused"):
        client.request("GET", "/x", operation="read")
    assert len(script.requests) == 6  # the third refusal ends it; the 503s did not count


# --------------------------------------------------------------------------- retry lines
def test_each_retry_prints_one_line_to_stderr_by_default(capsys):
    fake = FakeTime()
    script = Script(error(429, **{"Retry-After": "4"}), httpx.ReadTimeout("slow"), OK)
    client = HttpClient(
        "plivo-eu",
        "https://api.plivo.invalid",
        transport=httpx.MockTransport(script),
        sleep=fake.sleep,
        clock=fake.clock,
        wall_clock=fake.clock,
        jitter=lambda: 0.25,
    )
    client.request("GET", "/Number/", operation="list owned numbers")
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "plivo-eu: retrying in 4 s (1/8): HTTP 429 (list owned numbers)",
        "plivo-eu: retrying in 0.25 s (2/8): timed out (list owned numbers)",
    ]


def test_retry_lines_are_redacted():
    leaky = httpx.ConnectError(f"cannot reach https://u:{TOKEN}@api.acme.invalid/")
    notices, extra = quiet(body_error=voximplant_fault)
    script = Script(leaky, vox(2, f"internal error near {TOKEN}"), OK)
    make_client(script, **extra).request("GET", "/x", operation="read")
    assert len(notices) == 2
    for notice in notices:
        assert TOKEN not in str(notice)
        assert "***" in str(notice)


# --------------------------------------------------------------------------- bodies
def test_form_body_and_per_request_headers():
    script = Script(OK)
    client = make_client(script)
    client.request(
        "POST",
        "/platform_api/GetPhoneNumbers",
        operation="list",
        retry=True,
        data={"count": "100", "phone_id": "12;13"},
        headers={"X-Extra": "1"},
    )
    sent = script.requests[0]
    assert sent.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert urllib.parse.parse_qs(sent.content.decode()) == {
        "count": ["100"],
        "phone_id": ["12;13"],
    }
    assert sent.headers["X-Extra"] == "1"


def test_json_rpc_content_type_can_be_set_per_request():
    script = Script(httpx.Response(200, json={"jsonrpc": "2.0", "id": 1, "result": 1700000000}))
    client = make_client(script, body_error=callr_fault)
    result = client.request_json(
        "POST",
        "/json-rpc/v1.1/",
        operation="ping",
        retry=True,
        json={"jsonrpc": "2.0", "id": 1, "method": "system.get_timestamp", "params": []},
        headers={"Content-Type": "application/json-rpc; charset=utf-8"},
    )
    assert result["result"] == 1700000000
    assert script.requests[0].headers["Content-Type"] == "application/json-rpc; charset=utf-8"
