"""A provider's environment variables are needed only by the commands that open it: a missing
token of one account does not stop an inventory or a targeted plan of another, and every
command that does open it names each missing variable on its own line."""

from __future__ import annotations

from tests.test_cli import run

CONFIG = """\
version: 1
providers:
  lab: {type: sandbox}
  pl: {type: plivo, auth_id: "${TEST_PLIVO_ID}", auth_token: "${TEST_PLIVO_TOKEN}"}
numbers:
  a: {provider: lab, country: FR, quantity: 1}
  b: {provider: pl, country: US, quantity: 1}
"""

MISSING = [
    "error: numbers.yaml:4:30: providers.pl.auth_id: environment variable TEST_PLIVO_ID is not "
    "set (write ${TEST_PLIVO_ID:-default} to give a default)",
    "error: numbers.yaml:4:62: providers.pl.auth_token: environment variable TEST_PLIVO_TOKEN "
    "is not set (set it in the environment)",
]


def test_commands_that_do_not_open_a_provider_do_not_need_its_variables(tmp_path):
    (tmp_path / "numbers.yaml").write_text(CONFIG)
    inventory = run(tmp_path, "inventory", "lab", "--country", "FR")
    assert inventory.returncode == 0, inventory.stderr
    assert "AMIENS, FRANCE" in inventory.stdout
    targeted = run(tmp_path, "apply", "--auto-approve", "--target", "a")
    assert targeted.returncode == 0, targeted.stdout + targeted.stderr
    assert "Bought 1 number" in targeted.stdout


def test_commands_that_open_it_name_every_missing_variable_and_change_nothing(tmp_path):
    (tmp_path / "numbers.yaml").write_text(CONFIG)
    for args in (("plan",), ("apply", "--auto-approve"), ("inventory", "pl", "--country", "US")):
        result = run(tmp_path, *args)
        assert result.returncode == 1, result.stdout + result.stderr
        assert result.stderr.splitlines() == MISSING, args
    assert not (tmp_path / ".numbers-iac" / "sandbox-lab.json").exists()  # nothing bought


def test_a_file_with_other_mistakes_reports_the_missing_variables_in_the_same_run(tmp_path):
    (tmp_path / "numbers.yaml").write_text(CONFIG.replace("quantity: 1}\n  b", "quantity: x}\n  b"))
    result = run(tmp_path, "plan", "--target", "a")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        *MISSING,
        "error: numbers.yaml:6:45: numbers.a.quantity: expected a whole number, got text",
    ]


def test_every_provider_that_cannot_open_is_named_in_one_run(tmp_path):
    (tmp_path / "numbers.yaml").write_text(
        "version: 1\nproviders:\n  lab: {type: sandbox}\n"
        "  vx1: {type: voximplant, credentials: missing-1.json}\n"
        "  vx2: {type: voximplant, credentials: missing-2.json}\n"
        "numbers:\n  a: {provider: lab, country: FR, quantity: 1}\n"
    )
    result = run(tmp_path, "plan")
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert [line.split(": ")[0:3] for line in lines] == [
        ["error", "numbers.yaml:4:27", "providers.vx1.credentials"],
        ["error", "numbers.yaml:5:27", "providers.vx2.credentials"],
    ], lines
    assert all("neither a readable key file" in line for line in lines)
