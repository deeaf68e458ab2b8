"""The pieces behind the command line's contract (issue 16), tested without a subprocess:
Terraform's single-dash spelling, configurations loaded without their secrets, the schema's
generated provider options, and the saved plan's size bound."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from numbers_iac import planfile, schema_gen
from numbers_iac.cli import main, terraform_spelling
from numbers_iac.config import load_config, load_schema
from numbers_iac.config.checks import common_declaration_keys
from numbers_iac.errors import ConfigError, PlanFileError
from numbers_iac.providers.base import Capabilities, Provider
from numbers_iac.providers.registry import REGISTRY

# --------------------------------------------------------------------------- one dash


def spelt(path: list[str], args: list[str]) -> list[str]:
    """`args` as the command at `path` (["plan"], ["state", "list"], [] for the group) reads
    them."""
    command: click.Command = main
    ctx = click.Context(main, info_name="numbers-iac")
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
        ctx = click.Context(command, info_name=name, parent=ctx)
    return terraform_spelling(command, ctx, args)


@pytest.mark.parametrize(
    ("path", "args", "expected"),
    [
        (["plan"], ["-target=a", "-no-color"], ["--target=a", "--no-color"]),
        (["plan"], ["-target", "a", "-out", "p.json"], ["--target", "a", "--out", "p.json"]),
        (["plan"], ["-detailed-exitcode"], ["--detailed-exitcode"]),
        (["apply"], ["-auto-approve", "-allow-release"], ["--auto-approve", "--allow-release"]),
        (["apply"], ["-lock-timeout", "-1"], ["--lock-timeout", "-1"]),
        (["apply"], ["p.json", "-allow-release"], ["p.json", "--allow-release"]),
        # short options and their values stay click's
        (["plan"], ["-c", "f.yaml"], ["-c", "f.yaml"]),
        (["plan"], ["-cf.yaml"], ["-cf.yaml"]),
        (["plan"], ["-c", "-out"], ["-c", "-out"]),
        (["plan"], ["-h"], ["-h"]),
        (["plan"], ["-config=f.yaml"], ["--config=f.yaml"]),
        # an option's value is never respelt, nor anything after `--`
        (["plan"], ["--target", "-out"], ["--target", "-out"]),
        (["plan"], ["-target", "-out"], ["--target", "-out"]),
        (["state", "forget"], ["--", "-out"], ["--", "-out"]),
        # a word that is no option: respelt, so that click suggests the one meant
        (["plan"], ["-tagret=x"], ["--tagret=x"]),
        # a group reads up to its subcommand; the subcommand reads the rest itself
        ([], ["-no-color", "plan", "-target=a"], ["--no-color", "plan", "-target=a"]),
        ([], ["-c", "f.yaml", "-version"], ["-c", "f.yaml", "--version"]),
        (["state"], ["-config", "f.yaml", "list", "-format=json"], None),
    ],
)
def test_terraform_spelling(path, args, expected):
    if expected is None:
        expected = ["--config", "f.yaml", "list", "-format=json"]
    assert spelt(path, args) == expected


# --------------------------------------------------------------------------- secrets deferred

PLIVO = """\
version: 1
providers:
  voice:
    type: plivo
    auth_id: ${UNSET_ID}
    auth_token: "${UNSET_TOKEN}"
    base_url: ${UNSET_URL}
numbers:
  a: {provider: voice, country: "${UNSET_COUNTRY}", numbers: ["${UNSET_NUMBER}"]}
state:
  path: ${UNSET_DIR}/state.sqlite
"""


def test_validate_mode_keeps_unset_variables_as_placeholders(tmp_path: Path) -> None:
    path = tmp_path / "numbers.yaml"
    path.write_text(PLIVO)
    desired = load_config(path, env={}, resolve_env=False)
    settings = desired.providers["voice"].settings
    assert settings["auth_token"] == "${UNSET_TOKEN}"  # as written: a placeholder, no value
    assert desired.declarations["a"].pinned == ()


def test_the_default_resolves_every_variable(tmp_path: Path) -> None:
    path = tmp_path / "numbers.yaml"
    path.write_text(PLIVO)
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    named = {name for name in ("ID", "TOKEN", "URL", "COUNTRY", "NUMBER", "DIR")}
    assert all(f"UNSET_{name}" in str(caught.value) for name in named)


def test_sections_that_must_resolve_are_the_only_ones_reported(tmp_path: Path) -> None:
    path = tmp_path / "numbers.yaml"
    path.write_text(PLIVO)
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={}, resolve_env={"state"})
    assert [p.path for p in caught.value.problems] == ["state.path"]
    desired = load_config(path, env={"UNSET_DIR": str(tmp_path)}, resolve_env={"state"})
    assert desired.state.path == str(tmp_path / "state.sqlite")


def test_a_set_variable_is_checked_as_before_in_validate_mode(tmp_path: Path) -> None:
    path = tmp_path / "numbers.yaml"
    path.write_text(PLIVO)
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={"UNSET_COUNTRY": "France"}, resolve_env=False)
    assert {p.path for p in caught.value.problems} == {"numbers.a.country"}
    assert "France" not in str(caught.value)


# --------------------------------------------------------------------------- provider options


class OptionsProvider(Provider):
    type_name = "sandbox"
    capabilities = Capabilities()
    declaration_options = ("number_class",)


@dataclass(frozen=True)
class FakeEntry:
    adapter_cls: type[Provider]

    def adapter_class(self) -> type[Provider]:
        return self.adapter_cls

    def settings_schema(self):
        return {}


def test_every_provider_option_is_in_the_schema_and_nothing_else(monkeypatch) -> None:
    monkeypatch.setattr(schema_gen, "REGISTRY", {**REGISTRY, "callr": FakeEntry(OptionsProvider)})
    generated = schema_gen.generated_schema(load_schema())
    declaration = generated["$defs"]["declaration"]
    assert declaration["additionalProperties"] is False
    assert "callr" in declaration["properties"]["number_class"]["description"]
    assert "number_class" not in common_declaration_keys(generated)
    assert common_declaration_keys(generated) == common_declaration_keys(load_schema())
    # generating again from the generated file changes nothing, and an option no adapter
    # takes any more disappears
    assert schema_gen.generated_schema(generated) == generated
    monkeypatch.setattr(schema_gen, "REGISTRY", REGISTRY)
    assert schema_gen.generated_schema(generated) == load_schema()


# --------------------------------------------------------------------------- saved plans


def test_a_plan_file_over_the_size_bound_is_refused(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "plan.json"
    path.write_text('{"format_version": 1}' + " " * 100)
    monkeypatch.setattr(planfile, "MAX_PLAN_BYTES", 64)
    with pytest.raises(PlanFileError, match="larger than 64 bytes"):
        planfile.load(path)


def test_nesting_the_validator_cannot_walk_is_one_error(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text('{"format_version": 1, "actions": [' + "[" * 900 + "]" * 900 + "]}")
    with pytest.raises(PlanFileError, match="plan file"):
        planfile.load(path)
