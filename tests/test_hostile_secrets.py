"""Secrets never leak through shortened error texts or through configuration hints.

An error body cut at 300 characters before redaction once showed half a token; a token
written as a YAML number was echoed back in a "write it in quotes" hint.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from numbers_iac.config import load_config
from numbers_iac.config.secrets import is_secret_setting
from numbers_iac.errors import ConfigError, ProviderError
from numbers_iac.model import ProviderConfig
from numbers_iac.providers.http import ERROR_TEXT_LIMIT, HttpClient
from numbers_iac.providers.plivo import PlivoProvider, plivo_error_text

TOKEN = "tok-0123456789abcdefghijklmnopqrstuvwxyz"


def fragments(secret: str, size: int = 8) -> list[str]:
    return [secret[i : i + size] for i in range(len(secret) - size + 1)]


def assert_no_fragment(text: str, secret: str = TOKEN) -> None:
    leaked = [f for f in fragments(secret) if f in text]
    assert not leaked, f"{leaked[:3]} leaked in {text!r}"


def body_with_token_at(position: int, secret: str = TOKEN, length: int = 600) -> str:
    text = ("x" * position + secret).ljust(length, "y")
    return text


def client(handler, **kwargs) -> HttpClient:
    return HttpClient(
        "plivo-eu",
        "http://127.0.0.1:9",
        transport=httpx.MockTransport(handler),
        secrets=[TOKEN],
        max_retries=0,
        **kwargs,
    )


# --------------------------------------------------------------------------- redaction first


@pytest.mark.parametrize("position", [270, 285, 292])
def test_plivo_error_body_is_redacted_before_it_is_shortened(position):
    body = body_with_token_at(position)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, text=body)

    with pytest.raises(ProviderError) as caught:
        client(handler, error_text=plivo_error_text).request("POST", "/x", operation="buy")
    assert_no_fragment(str(caught.value))
    assert len(caught.value.detail) <= ERROR_TEXT_LIMIT + 1


def test_plivo_adapter_never_shows_half_a_token():
    body = body_with_token_at(290)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, text=body)

    config = ProviderConfig(
        "plivo-eu",
        "plivo",
        {"auth_id": "MAHOSTILE0000000001", "auth_token": TOKEN, "max_retries": 0},
    )
    provider = PlivoProvider(config, transport=httpx.MockTransport(handler), sleep=lambda s: None)
    with pytest.raises(ProviderError) as caught:
        provider.list_apps()
    assert_no_fragment(str(caught.value))


@pytest.mark.parametrize("position", [180, 192])
def test_a_body_that_is_not_json_is_redacted_before_it_is_shortened(position):
    body = body_with_token_at(position)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text=body)

    with pytest.raises(ProviderError) as caught:
        client(handler).get_json("/x", operation="list numbers")
    assert_no_fragment(str(caught.value))


def test_a_secret_with_quotes_and_backslashes_is_redacted_in_a_non_json_body():
    secret = "ab'c\\d\"e-0123456789"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text=f"oops {secret} oops")

    http = HttpClient(
        "acme", "http://127.0.0.1:9", transport=httpx.MockTransport(handler), secrets=[secret]
    )
    with pytest.raises(ProviderError) as caught:
        http.get_json("/x", operation="list numbers")
    assert "0123456789" not in str(caught.value) and "***" in str(caught.value)


def test_a_long_body_fault_detail_is_redacted_then_shortened():
    from numbers_iac.providers.http import BodyFault

    detail = body_with_token_at(295, length=2000)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"error": detail})

    http = client(handler, body_error=lambda body: BodyFault(body["error"]))
    with pytest.raises(ProviderError) as caught:
        http.get_json("/x", operation="list numbers")
    assert_no_fragment(str(caught.value))
    assert len(caught.value.detail) <= ERROR_TEXT_LIMIT + 1


# --------------------------------------------------------------------------- config hints

PLIVO = """\
version: 1
providers:
  plivo-eu:
    type: plivo
    auth_id: MAHOSTILE0000000001
    auth_token: {token}
numbers:
  support-fr:
    provider: plivo-eu
    country: FR
"""


@pytest.mark.parametrize("written", ["987654321", "9876.54321e+3", "0x3ade68b1", "9_876_543_21"])
def test_a_secret_written_as_a_yaml_number_is_never_echoed(tmp_path: Path, written):
    path = tmp_path / "numbers.yaml"
    path.write_text(PLIVO.format(token=written))
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    message = str(caught.value)
    assert "auth_token" in message and "in quotes" in message
    for shown in {written, written.replace("_", ""), "987654321", "9876543.21"}:
        assert shown not in message, message


def test_validate_never_shows_a_numeric_token(tmp_path: Path):
    (tmp_path / "numbers.yaml").write_text(PLIVO.format(token="987654321"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLIVO_", "NUMBERS_IAC_"))}
    result = subprocess.run(
        [sys.executable, "-m", "numbers_iac", "validate"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: numbers.yaml:6:17: providers.plivo-eu.auth_token:")
    assert "987654321" not in result.stderr + result.stdout


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_a_state_dsn_written_as_a_number_is_never_echoed(tmp_path: Path, backend: str):
    """postgres wants the dsn as text, and sqlite takes no dsn: refused either way, without
    repeating the connection string."""
    path = tmp_path / "numbers.yaml"
    path.write_text(
        PLIVO.format(token="${T}") + f"state:\n  backend: {backend}\n  dsn: 55512345678\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={"T": "x"})
    assert "state" in str(caught.value) and "55512345678" not in str(caught.value)


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("auth_token", True),
        ("api_key", True),
        ("api_secret", True),
        ("password", True),
        ("private_key", True),
        ("client_secret", True),
        ("dsn", True),
        ("auth_id", False),
        ("base_url", False),
        ("apps", False),
        ("key_id", False),
    ],
)
def test_which_settings_count_as_secret(name, secret):
    assert is_secret_setting(name) is secret
