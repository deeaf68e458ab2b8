"""Inputs that used to end in "internal error": each must be one clear `error:` line naming
the file (and line and field where there is one), exit 1, and nothing changed.

Run as a user runs it, in a subprocess; no case may reach a non-loopback address.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from numbers_iac.config import MAX_CONFIG_BYTES, load_config
from numbers_iac.errors import ConfigError, ProviderError
from numbers_iac.providers.http import HttpClient

GOOD = """\
version: 1
providers:
  lab:
    type: sandbox
    apps: [support-ivr]
numbers:
  support-fr:
    provider: lab
    country: FR
    quantity: 1
"""

PLIVO = """\
version: 1
providers:
  plivo-eu:
    type: plivo
    base_url: "{base_url}"
    auth_id: MAHOSTILE0000000001
    auth_token: hostile-token
numbers:
  support-fr:
    provider: plivo-eu
    country: FR
"""


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLIVO_", "NUMBERS_IAC_"))}
    env["NO_COLOR"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "numbers_iac", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def one_clear_error(result: subprocess.CompletedProcess) -> str:
    """The single `error:` line of a failed run, after checking it is the only output."""
    assert result.returncode == 1, result.stdout + result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    return lines[0]


def assert_nothing_changed(directory: Path) -> None:
    assert not (directory / ".numbers-iac").exists()


# --------------------------------------------------------------------------- YAML


def test_twenty_thousand_nested_brackets_is_a_located_error(tmp_path):
    (tmp_path / "numbers.yaml").write_bytes(
        b"version: 1\nproviders: {}\nnumbers: " + b"[" * 20_000 + b"]" * 20_000 + b"\n"
    )
    for command in ("validate", "plan"):
        line = one_clear_error(run(tmp_path, command))
        assert line.startswith("error: numbers.yaml:3:"), line
        assert "nested" in line
    assert_nothing_changed(tmp_path)


def test_deep_mappings_are_refused_the_same_way(tmp_path):
    (tmp_path / "numbers.yaml").write_bytes(
        b"version: 1\nx: " + b"{a: " * 5_000 + b"1" + b"}" * 5_000
    )
    line = one_clear_error(run(tmp_path, "validate"))
    assert "numbers.yaml:2:" in line and "nested" in line


def test_aliases_that_stack_nesting_up_are_refused(tmp_path):
    """Each anchor nests 90 deep as written; through aliases the values nest 2,700 deep."""
    chain = "".join(
        f"  a{i}: &a{i} " + "[" * 90 + f"*a{i - 1}" + "]" * 90 + "\n" for i in range(1, 30)
    )
    (tmp_path / "numbers.yaml").write_text(
        f"version: 1\nproviders: {{}}\nnumbers: {{}}\nx-anchors:\n  a0: &a0 [1]\n{chain}"
    )
    line = one_clear_error(run(tmp_path, "validate"))
    assert line.startswith("error: numbers.yaml: ") and "nest" in line


def test_moderate_nesting_is_still_read(tmp_path):
    depth = 40
    text = GOOD + "    x-option: " + "[" * depth + "1" + "]" * depth + "\n"
    (tmp_path / "numbers.yaml").write_text(text)
    result = run(tmp_path, "validate")
    assert "nested" not in result.stderr and "internal error" not in result.stderr


def test_a_nul_byte_is_located(tmp_path):
    (tmp_path / "numbers.yaml").write_bytes(GOOD.encode().replace(b"support-fr:", b"supp\0rt:"))
    for command in ("validate", "plan"):
        line = one_clear_error(run(tmp_path, command))
        assert line.startswith("error: numbers.yaml:7:7:"), line
        assert "U+0000" in line and "\0" not in line
    assert_nothing_changed(tmp_path)


def test_a_raw_escape_byte_is_located(tmp_path):
    (tmp_path / "numbers.yaml").write_bytes(GOOD.encode().replace(b"FR", b"F\x1bR"))
    line = one_clear_error(run(tmp_path, "validate"))
    assert line.startswith("error: numbers.yaml:9:15:") and "U+001B" in line
    assert "\x1b" not in line


# --------------------------------------------------------------------------- base_url


@pytest.mark.parametrize(
    ("base_url", "words"),
    [
        ("http://[::1", "not a valid URL"),
        ("http://xn--a.example", "host name"),
        ("http://a..b.example", "host name"),
        ("http://\u2603.example", "host name"),
        ("http://h:99999", "port"),
        ("https://", "no host"),
    ],
)
def test_a_bad_base_url_is_a_located_config_error_before_any_network(tmp_path, base_url, words):
    (tmp_path / "numbers.yaml").write_text(PLIVO.format(base_url=base_url))
    for command in ("validate", "plan"):
        line = one_clear_error(run(tmp_path, command))
        assert line.startswith("error: numbers.yaml:5:15: providers.plivo-eu.base_url:"), line
        assert words in line
    assert_nothing_changed(tmp_path)


def test_a_base_url_from_the_environment_is_not_echoed(tmp_path):
    (tmp_path / "numbers.yaml").write_text(PLIVO.format(base_url="${API_ROOT}"))
    env_run = subprocess.run(
        [sys.executable, "-m", "numbers_iac", "validate"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "API_ROOT": "http://secret-host..example", "NO_COLOR": "1"},
        timeout=60,
    )
    line = one_clear_error(env_run)
    assert "base_url" in line and "secret-host" not in line


@pytest.mark.parametrize(
    "base_url", ["http://[::1", "http://xn--a.example", "http://a..b.example", "http://h:99999"]
)
def test_the_http_client_refuses_a_bad_base_url_itself(base_url):
    """Defence in depth for adapters built without the loader: refused before any request."""
    with pytest.raises(ProviderError) as caught:
        HttpClient("acme", base_url)
    assert "acme" in str(caught.value) and "base_url" in str(caught.value)


# --------------------------------------------------------------------------- the file itself


def test_dev_zero_is_refused_without_reading_it(tmp_path):
    line = one_clear_error(run(tmp_path, "-c", "/dev/zero", "validate"))
    assert line.startswith("error: /dev/zero:") and "not a regular file" in line


def test_a_directory_is_refused(tmp_path):
    (tmp_path / "conf").mkdir()
    line = one_clear_error(run(tmp_path, "-c", "conf", "plan"))
    assert line.startswith("error: conf:") and "not a regular file" in line
    assert_nothing_changed(tmp_path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_named_pipe_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "pipe.yaml")
    line = one_clear_error(run(tmp_path, "-c", "pipe.yaml", "validate"))
    assert "not a regular file" in line


def test_a_config_over_the_size_limit_is_refused(tmp_path):
    big = tmp_path / "numbers.yaml"
    with big.open("w") as handle:
        handle.write(GOOD)
        handle.write("#" * (MAX_CONFIG_BYTES + 1))
    line = one_clear_error(run(tmp_path, "validate"))
    assert line.startswith("error: numbers.yaml:") and "larger than" in line
    assert_nothing_changed(tmp_path)


def test_the_size_limit_is_checked_on_what_is_read(tmp_path, monkeypatch):
    """The file is read no further than the limit, whatever its size claims."""
    path = tmp_path / "numbers.yaml"
    path.write_text(GOOD + "#" * 100)
    monkeypatch.setattr("numbers_iac.config.files.MAX_CONFIG_BYTES", 64)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "larger than" in str(caught.value)


# --------------------------------------------------------------------------- flags


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1"])
def test_lock_timeout_must_be_a_finite_number_of_seconds(tmp_path, value):
    (tmp_path / "numbers.yaml").write_text(GOOD)
    line = one_clear_error(run(tmp_path, "apply", "--auto-approve", "--lock-timeout", value))
    assert "--lock-timeout" in line
    assert_nothing_changed(tmp_path)
