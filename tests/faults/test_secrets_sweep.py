"""No credential ever shows up in what the CLI prints or leaves on disk, on any provider.

Each provider's account goes through everything that writes: an apply, a saved plan, plans
in text, Markdown and JSON, an apply whose purchase answer is lost (the journal keeps the
attempt), `state list`, `state journal`, `drift`, and a run with wrong credentials (whose
refusal must not echo them). Then the outputs and every file in the directory (plan file,
state, journal) are searched for the credentials given. (The session also sweeps every CLI
run of the whole suite when it ends: tests/conftest.py.)"""

from __future__ import annotations

import pytest

from numbers_iac.emulators.faults import Fault
from tests.faults.cli import cli, leaked_secrets
from tests.faults.matrix import PROFILES, Case

#: a wrong credential per provider: its refusal must not quote it either
WRONG = {
    "plivo": {"PLIVO_AUTH_TOKEN": "wrong-plivo-token-77"},
    "aculab": {"ACULAB_API_KEY": "wrong-aculab-key-77"},
    "callr": {"CALLR_API_KEY": "wrong-callr-key-77"},
    "messagemedia": {"MESSAGEMEDIA_API_SECRET": "wrong-mm-secret-77"},
}


@pytest.mark.parametrize("kind", sorted(PROFILES))
def test_no_output_plan_state_or_journal_holds_a_credential(kind, tmp_path):
    profile = PROFILES[kind]
    case = Case(profile, tmp_path)
    outputs = []
    try:
        case.prepare()
        if case.server is not None:
            case.server.app.add(Fault(status=500, then_fail=True, times=1, match=profile.buy))
        runs = [
            cli(tmp_path, "plan", "--out", "plan.json"),
            cli(tmp_path, "plan", "--format", "markdown"),
            cli(tmp_path, "plan", "--format", "json"),
            cli(tmp_path, "apply", "plan.json", "--allow-release"),
            cli(tmp_path, "state", "list", "--format", "json"),
            cli(tmp_path, "state", "journal", "--all"),
            cli(tmp_path, "drift", "--format", "json"),
        ]
        wrong = WRONG.get(kind, {})
        if wrong:
            refused = cli(tmp_path, "plan", **wrong)
            assert refused.returncode == 1 and "error:" in refused.stderr
            runs.append(refused)
        outputs = [r.stdout + r.stderr for r in runs]
        assert (tmp_path / "plan.json").exists()
        assert any("journal" in o or "purchase" in o for o in outputs)
    finally:
        case.close()
    secrets_seen = leaked_secrets(outputs, {tmp_path})
    wrong_seen = [value for value in WRONG.get(kind, {}).values() for o in outputs if value in o]
    assert not secrets_seen and not wrong_seen, secrets_seen + wrong_seen


def test_the_sweep_finds_a_credential_in_an_output_or_a_file(tmp_path):
    """The sweep itself is not blind: a token in an output, or deep in a state file, is found."""
    from tests.faults.cli import AUTH_TOKEN

    (tmp_path / ".numbers-iac").mkdir()
    (tmp_path / ".numbers-iac" / "state.sqlite").write_bytes(b"\x00journal " + AUTH_TOKEN.encode())
    assert len(leaked_secrets([f"error: token {AUTH_TOKEN} refused"], set())) == 1
    assert len(leaked_secrets([], {tmp_path})) == 1
    assert leaked_secrets(["nothing here"], set()) == []
