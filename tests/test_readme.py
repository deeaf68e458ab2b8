"""The README's quickstart is a promise: exactly two commands, and CI runs both verbatim."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def quickstart_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", section, re.S)]


def test_quickstart_has_exactly_two_one_line_commands():
    commands = quickstart_commands()
    assert len(commands) == 2
    assert all("\n" not in c for c in commands)
    install_and_run, test = commands
    assert (
        "examples/numbers.yaml plan" in install_and_run
        and "apply --auto-approve" in install_and_run
    )
    assert "pytest" in test and "[test]" in test


def test_ci_runs_the_readme_commands_verbatim():
    ci = (ROOT / ".ci" / "run").read_text()
    for command in quickstart_commands():
        assert command in ci, command


def test_the_example_uses_only_the_sandbox():
    """The first command must work on a fresh machine: no credentials, no network."""
    example = (ROOT / "examples" / "numbers.yaml").read_text()
    assert "type: sandbox" in example and "${" not in example


def test_every_documented_state_line_is_yaml_a_user_can_paste(tmp_path):
    """`state: {backend: postgres, dsn: ...}` in the README and the CI recipes: pasted into
    a configuration, each loads, with the DSN read from the environment."""
    from numbers_iac.config import load_config

    texts = [ROOT / "README.md", *sorted((ROOT / "examples" / "ci").glob("*.yml"))]
    texts += sorted((ROOT / "examples" / "ci").glob(".*.yml"))
    lines = {
        match for path in texts for match in re.findall(r"state: \{[^`\n]*\}", path.read_text())
    }
    assert len(lines) >= 1
    for line in sorted(lines):
        config = tmp_path / "numbers.yaml"
        config.write_text(
            f"version: 1\n{line}\nproviders: {{lab: {{type: sandbox}}}}\nnumbers: {{}}\n"
        )
        state = load_config(config, env={"NUMBERS_IAC_PG_DSN": "postgresql://u@h/db"}).state
        assert state.backend == "postgres" and state.dsn == "postgresql://u@h/db", line
