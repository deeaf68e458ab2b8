"""The configuration schema's provider part is generated from the registry, and the loader and
the schema agree on which settings each provider type takes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from numbers_iac import schema_gen
from numbers_iac.config import load_schema, schema_path
from numbers_iac.config.checks import COMMON_PROVIDER_SETTINGS, HTTP_PROVIDER_SETTINGS
from numbers_iac.providers.registry import LOCAL_TYPES, PLANNED_TYPES, REGISTRY

ROOT = Path(__file__).resolve().parent.parent


def provider_def() -> dict:
    return load_schema()["$defs"]["provider"]


def schema_settings(type_name: str) -> set[str]:
    """The settings the schema describes for a provider type, besides `type`."""
    definition = provider_def()
    described = set(definition["properties"])
    for branch in definition["allOf"]:
        if branch["if"]["properties"]["type"]["const"] == type_name:
            described |= set(branch["then"]["properties"])
    return described - {"type"}


def test_the_committed_schema_is_the_generated_one() -> None:
    expected = schema_gen.render(schema_gen.generated_schema(load_schema()))
    assert schema_path().read_text(encoding="utf-8") == expected, (
        "schemas/numbers.schema.json is out of date: run python -m numbers_iac.schema_gen"
    )


def test_check_mode_reports_a_stale_file_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale = tmp_path / "numbers.schema.json"
    stale.write_text(schema_path().read_text().replace("plivo", "plivio"))
    before = stale.read_text()
    monkeypatch.setattr(schema_gen, "schema_path", lambda: stale)
    assert schema_gen.main(["--check"]) == 1
    assert stale.read_text() == before
    assert schema_gen.main([]) == 0
    assert schema_gen.main(["--check"]) == 0


def test_check_mode_runs_as_a_module() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "numbers_iac.schema_gen", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_the_type_enum_offers_only_the_types_this_version_has() -> None:
    assert provider_def()["properties"]["type"]["enum"] == list(REGISTRY)
    assert not set(REGISTRY) & set(PLANNED_TYPES)


@pytest.mark.parametrize("type_name", list(REGISTRY))
def test_each_type_takes_no_setting_the_schema_does_not_describe(type_name: str) -> None:
    (branch,) = [
        b for b in provider_def()["allOf"] if b["if"]["properties"]["type"]["const"] == type_name
    ]
    assert branch["then"]["additionalProperties"] is False
    assert ("base_url" in branch["then"]["properties"]) == (type_name not in LOCAL_TYPES)


def test_every_registered_type_has_exactly_one_settings_branch() -> None:
    branches = [b["if"]["properties"]["type"]["const"] for b in provider_def()["allOf"]]
    assert branches == list(REGISTRY)


@pytest.mark.parametrize("type_name", list(REGISTRY))
def test_adapter_settings_keys_are_its_schema_properties(type_name: str) -> None:
    adapter = REGISTRY[type_name].adapter_class()
    assert adapter.settings_keys == tuple(adapter.settings_schema)
    assert not set(adapter.settings_keys) & {*COMMON_PROVIDER_SETTINGS, *HTTP_PROVIDER_SETTINGS}


@pytest.mark.parametrize("type_name", list(REGISTRY))
def test_the_loader_accepts_exactly_the_settings_the_schema_describes(type_name: str) -> None:
    adapter = REGISTRY[type_name].adapter_class()
    accepted = {*COMMON_PROVIDER_SETTINGS, *adapter.settings_keys}
    if type_name not in LOCAL_TYPES:
        accepted |= set(HTTP_PROVIDER_SETTINGS)
    assert accepted == schema_settings(type_name)


def test_every_provider_setting_has_a_description() -> None:
    definition = provider_def()
    settings = {k: v for k, v in definition["properties"].items() if k != "type"}
    for branch in definition["allOf"]:  # `type` and common settings: described at the top
        settings.update({k: v for k, v in branch["then"]["properties"].items() if v != {}})
    assert [k for k, v in settings.items() if not v.get("description")] == []
