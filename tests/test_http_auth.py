"""Authentication schemes: RS256 JWT (Voximplant), HMAC signing (MessageMedia), fixed header
(CALLR), Basic; and redaction of each scheme's secrets."""

from __future__ import annotations

import base64
import calendar
import hashlib
import hmac
import json
import re

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from numbers_iac.errors import AuthError, ProviderError
from numbers_iac.providers.auth import (
    MAX_JWT_LIFETIME,
    BasicAuth,
    HeaderAuth,
    HmacAuth,
    JwtAuth,
    basic_auth_header,
)
from numbers_iac.providers.http import HttpClient
from tests.test_http import OK, Script

NOW = 1_700_000_000.0
# The date of MessageMedia's documented signing-string example.
DOC_DATE = "Sat, 30 Jul 2016 05:13:23 GMT"
DOC_EPOCH = calendar.timegm((2016, 7, 30, 5, 13, 23))


def rsa_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return rsa_pair()


def client_with(auth, script, **kwargs) -> HttpClient:
    return HttpClient(
        "acme",
        "https://api.acme.invalid",
        auth=auth,
        transport=httpx.MockTransport(script),
        on_retry=lambda notice: None,
        **kwargs,
    )


def bearer(request: httpx.Request) -> str:
    scheme, _, token = request.headers["Authorization"].partition(" ")
    assert scheme == "Bearer"
    return token


# --------------------------------------------------------------------------- JWT
def test_jwt_verifies_with_the_public_key_and_carries_kid_iss_iat_exp(keys):
    private, public = keys
    script = Script(OK)
    auth = JwtAuth(private, key_id="key-123", issuer=4242, clock=lambda: NOW)
    client_with(auth, script).request("POST", "/platform_api/GetPhoneNumbers", operation="list")
    token = bearer(script.requests[0])
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256"
    assert header["kid"] == "key-123"
    claims = jwt.decode(
        token, public, algorithms=["RS256"], options={"verify_exp": False, "verify_iat": False}
    )
    assert claims["iss"] == 4242  # Voximplant wants the account id as a number
    assert claims["iat"] <= NOW < claims["exp"]
    assert claims["exp"] == NOW + 60
    assert claims["exp"] - claims["iat"] < 3600


def test_jwt_does_not_verify_with_another_key(keys):
    private, _ = keys
    _, other_public = rsa_pair()
    token = JwtAuth(private, key_id="k", issuer=1, clock=lambda: NOW).token()
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, other_public, algorithms=["RS256"], options={"verify_exp": False})


def test_jwt_is_minted_per_request_so_a_late_retry_is_not_expired(keys):
    private, public = keys
    clock = [NOW]
    script = Script(httpx.Response(503), OK)
    auth = JwtAuth(private, key_id="k", issuer=1, lifetime=30, clock=lambda: clock[0])

    def sleep(seconds: float) -> None:
        clock[0] += 120  # a back-off longer than the token's life

    client = client_with(auth, script, sleep=sleep)
    client.request("POST", "/GetPhoneNumbers", operation="list", retry=True)
    first, second = (bearer(r) for r in script.requests)
    assert first != second
    claims = jwt.decode(second, public, algorithms=["RS256"], options={"verify_exp": False})
    assert claims["exp"] == NOW + 120 + 30


@pytest.mark.parametrize("lifetime", [0, -5, MAX_JWT_LIFETIME + 1, 3600])
def test_jwt_lifetime_must_stay_well_under_an_hour(keys, lifetime):
    with pytest.raises(ValueError, match="lifetime"):
        JwtAuth(keys[0], key_id="k", issuer=1, lifetime=lifetime)


def test_a_bad_private_key_is_refused_without_echoing_it():
    garbage = "-----BEGIN PRIVATE KEY-----\nTm90QUtleUF0QWxsQnV0U2VjcmV0\n-----END PRIVATE KEY-----"
    with pytest.raises(ValueError) as caught:
        JwtAuth(garbage, key_id="k", issuer=1)
    assert "Tm90QUtleUF0QWxsQnV0U2VjcmV0" not in str(caught.value)


def test_jwt_secrets_and_tokens_are_redacted_from_errors(keys):
    private, _ = keys
    auth = JwtAuth(private, key_id="k", issuer=1, clock=lambda: NOW)
    key_line = [line for line in private.splitlines() if not line.startswith("-----")][3]
    escaped = json.dumps({"private_key": private})

    def echo(request: httpx.Request) -> httpx.Response:
        text = (
            f"bad key {private} / json {escaped} / line {key_line} / "
            f"header {request.headers['Authorization']}"
        )
        return httpx.Response(401, text=text)

    with pytest.raises(AuthError) as caught:
        client_with(auth, echo).request("GET", "/x", operation="read")
    message = str(caught.value)
    key_body = "".join(line for line in private.splitlines() if not line.startswith("-----"))
    fragments = {key_body[i : i + 8] for i in range(len(key_body) - 8)}
    assert not any(fragment in message for fragment in fragments)
    assert "eyJ" not in message


def test_bearer_token_echoed_in_an_error_is_redacted(keys):
    auth = JwtAuth(keys[0], key_id="k", issuer=1, clock=lambda: NOW)

    def echo(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": f"bad {request.headers['Authorization']}"})

    with pytest.raises(AuthError) as caught:
        client_with(auth, echo).request("GET", "/x", operation="read")
    assert "eyJ" not in str(caught.value)
    assert "Bearer ***" in str(caught.value)


# --------------------------------------------------------------------------- HMAC
def recompute(secret: str, date: str, request_line: str, body: bytes | None) -> str:
    """MessageMedia's documented recipe, written out independently of HmacAuth."""
    parts = [f"Date: {date}"]
    if body:
        parts.append(f"Content-MD5: {hashlib.md5(body).hexdigest()}")
    parts.append(request_line)
    signing = "\n".join(parts).encode("utf-8")
    digest = hmac.new(secret.encode("utf-8"), signing, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


AUTH_FORM = re.compile(
    r'^hmac username="(?P<user>[^"]+)", algorithm="(?P<alg>[^"]+)", '
    r'headers="(?P<headers>[^"]+)", signature="(?P<sig>[^"]+)"$'
)


def test_hmac_signs_a_request_with_a_body_as_documented():
    script = Script(httpx.Response(201, json={"id": "a"}))
    auth = HmacAuth("API-KEY", "s3cret", clock=lambda: DOC_EPOCH)
    client_with(auth, script).request(
        "POST",
        "/v1/messaging/numbers/dedicated/073f/assignment",
        operation="assign",
        json={"label": "support-au", "metadata": {}},
    )
    sent = script.requests[0]
    assert sent.headers["Date"] == DOC_DATE
    assert sent.headers["Content-MD5"] == hashlib.md5(sent.content).hexdigest()
    form = AUTH_FORM.match(sent.headers["Authorization"])
    assert form is not None, sent.headers["Authorization"]
    assert form["user"] == "API-KEY"
    assert form["alg"] == "hmac-sha256"
    assert form["headers"] == "Date Content-MD5 request-line"
    line = "POST /v1/messaging/numbers/dedicated/073f/assignment HTTP/1.1"
    assert form["sig"] == recompute("s3cret", DOC_DATE, line, sent.content)


def test_hmac_without_a_body_signs_date_and_request_line_only():
    script = Script(OK)
    auth = HmacAuth("API-KEY", "s3cret", clock=lambda: DOC_EPOCH)
    client_with(auth, script).request(
        "GET", "/v1/messaging/numbers/dedicated/assignments", operation="list"
    )
    sent = script.requests[0]
    assert "Content-MD5" not in sent.headers
    form = AUTH_FORM.match(sent.headers["Authorization"])
    assert form["headers"] == "Date request-line"
    line = "GET /v1/messaging/numbers/dedicated/assignments HTTP/1.1"
    assert form["sig"] == recompute("s3cret", DOC_DATE, line, None)


@pytest.mark.parametrize(
    ("sign_query", "target"),
    [
        (True, "/v1/messaging/numbers/dedicated?country=AU&page_size=2"),
        (False, "/v1/messaging/numbers/dedicated"),
    ],
)
def test_hmac_request_line_query_string_is_a_switch(sign_query, target):
    script = Script(OK)
    auth = HmacAuth("K", "s3cret", sign_query=sign_query, clock=lambda: DOC_EPOCH)
    client_with(auth, script).request(
        "GET",
        "/v1/messaging/numbers/dedicated",
        operation="search",
        params={"country": "AU", "page_size": 2},
    )
    form = AUTH_FORM.match(script.requests[0].headers["Authorization"])
    assert form["sig"] == recompute("s3cret", DOC_DATE, f"GET {target} HTTP/1.1", None)


def test_hmac_sha1_variant_names_its_algorithm():
    script = Script(OK)
    client_with(HmacAuth("K", "s", digest="sha1", clock=lambda: DOC_EPOCH), script).request(
        "GET", "/v1/x", operation="read"
    )
    form = AUTH_FORM.match(script.requests[0].headers["Authorization"])
    assert form["alg"] == "hmac-sha1"
    mac = hmac.new(b"s", f"Date: {DOC_DATE}\nGET /v1/x HTTP/1.1".encode(), hashlib.sha1)
    assert form["sig"] == base64.b64encode(mac.digest()).decode()


def test_hmac_sha1_as_messagemedias_sdks_sign_it():
    """The string the Python SDK (and the Node, Java and PHP ones) signs for a POST:
    `date: <date>`, `x-Content-MD5: <hex md5>`, the request line; `headers="date
    x-Content-MD5 request-line"`. A server that rebuilds it in those words agrees."""
    script = Script(OK)
    auth = HmacAuth(
        "K",
        "s",
        digest="sha1",
        md5_header="x-Content-MD5",
        date_header="date",
        clock=lambda: DOC_EPOCH,
    )
    client_with(auth, script).request("POST", "/v1/a", operation="assign", json={"label": "x"})
    body = script.requests[0].content
    header = script.requests[0].headers["Authorization"]
    assert 'headers="date x-Content-MD5 request-line"' in header
    md5 = hashlib.md5(body).hexdigest()
    signed = f"date: {DOC_DATE}\nx-Content-MD5: {md5}\nPOST /v1/a HTTP/1.1"
    mac = hmac.new(b"s", signed.encode(), hashlib.sha1)
    assert AUTH_FORM.match(header)["sig"] == base64.b64encode(mac.digest()).decode()


def test_hmac_signature_changes_with_the_body_and_retries_re_sign():
    clock = [float(DOC_EPOCH)]
    script = Script(httpx.Response(503), OK)
    auth = HmacAuth("K", "s3cret", clock=lambda: clock[0])

    def sleep(seconds: float) -> None:
        clock[0] += 1

    client_with(auth, script, sleep=sleep).request(
        "PATCH", "/v1/a", operation="label", json={"label": "x"}, retry=True
    )
    dates = [r.headers["Date"] for r in script.requests]
    assert dates == [DOC_DATE, "Sat, 30 Jul 2016 05:13:24 GMT"]


def test_hmac_secret_is_redacted():
    def echo(request):
        return httpx.Response(403, json={"message": "Invalid authentication credentials s3cret"})

    with pytest.raises(AuthError) as caught:
        client_with(HmacAuth("K", "s3cret"), echo).request("GET", "/x", operation="read")
    assert "s3cret" not in str(caught.value)


# --------------------------------------------------------------------------- header / Basic
def test_header_auth_sends_callr_api_key_and_redacts_it():
    def echo(request):
        return httpx.Response(400, text=f"you sent {request.headers['Authorization']}")

    script = Script(OK)
    client_with(HeaderAuth("k3y-abc", scheme="Api-Key"), script).request(
        "POST", "/json-rpc/v1.1/", operation="ping", json={}
    )
    assert script.requests[0].headers["Authorization"] == "Api-Key k3y-abc"
    with pytest.raises(ProviderError) as caught:
        client_with(HeaderAuth("k3y-abc", scheme="Api-Key"), echo).request(
            "GET", "/x", operation="read"
        )
    assert "k3y-abc" not in str(caught.value)


def test_header_auth_can_use_another_header():
    script = Script(OK)
    client_with(HeaderAuth("k3y", header="x-api-key"), script).request(
        "GET", "/v2.0/dids", operation="list"
    )
    assert script.requests[0].headers["x-api-key"] == "k3y"
    assert "Authorization" not in script.requests[0].headers


def test_basic_auth_object_matches_the_tuple_form_and_is_redacted():
    header = basic_auth_header("cloud/user", "pa55")

    def echo(request):
        assert request.headers["Authorization"] == header
        return httpx.Response(401, text=f"bad {request.headers['Authorization']} pa55")

    for auth in (("cloud/user", "pa55"), BasicAuth("cloud/user", "pa55")):
        with pytest.raises(AuthError) as caught:
            client_with(auth, echo).request("GET", "/tel_list_numbers", operation="list")
        assert "pa55" not in str(caught.value)
        assert header.removeprefix("Basic ") not in str(caught.value)


def test_a_jwt_is_sent_again_while_young_and_replaced_well_before_it_expires(keys):
    """One RSA signature per request cost a second of CPU per 1,000 listing pages: a token
    is reused for a third of its life, so every token sent still has two thirds left."""
    private, public = keys
    clock = [NOW]
    auth = JwtAuth(private, key_id="k", issuer=1, lifetime=30, clock=lambda: clock[0])
    first = auth.token()
    clock[0] += 9
    assert auth.token() == first
    clock[0] += 1  # ten seconds: a third of 30
    second = auth.token()
    assert second != first
    claims = jwt.decode(second, public, algorithms=["RS256"], options={"verify_exp": False})
    assert claims["exp"] == NOW + 10 + 30
    clock[0] -= 60  # a clock set back never keeps a token minted "in the future"
    assert auth.token() not in (first, second)
