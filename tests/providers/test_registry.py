"""The provider registry: one entry per type names its adapter and emulator, loaded on use."""

from __future__ import annotations

import subprocess
import sys

import pytest

from numbers_iac.emulators import serve
from numbers_iac.errors import NumbersIacError
from numbers_iac.providers import PROVIDER_TYPES, provider_class
from numbers_iac.providers.registry import (
    EMULATED_TYPES,
    LOCAL_TYPES,
    REGISTRY,
    emulator_class,
)


@pytest.mark.parametrize("type_name", list(REGISTRY))
def test_each_entry_names_an_adapter_of_its_type(type_name: str) -> None:
    entry = REGISTRY[type_name]
    assert entry.adapter_class().type_name == type_name
    assert provider_class(type_name) is entry.adapter_class()
    assert PROVIDER_TYPES[type_name] == entry.adapter


@pytest.mark.parametrize("type_name", EMULATED_TYPES)
def test_each_emulator_serves_its_type(type_name: str) -> None:
    emulator = emulator_class(type_name)
    assert emulator is REGISTRY[type_name].emulator_class()
    assert callable(getattr(emulator, "provider_settings", None))


def test_only_the_sandbox_is_local_and_has_no_emulator() -> None:
    assert set(LOCAL_TYPES) == {"sandbox"}
    assert set(EMULATED_TYPES) == set(REGISTRY) - LOCAL_TYPES
    with pytest.raises(KeyError):
        emulator_class("sandbox")


def test_the_emulator_command_lists_the_registry_emulators() -> None:
    with pytest.raises(NumbersIacError, match=r"no emulator for provider type 'sandbox'") as caught:
        serve.main_emulator("sandbox", 0, None, print, env={})
    assert f"available: {', '.join(sorted(EMULATED_TYPES))}" in str(caught.value)


def test_importing_the_registry_loads_no_adapter() -> None:
    code = (
        "import sys, numbers_iac.providers, numbers_iac.config\n"
        "loaded = [m for m in sys.modules if m.startswith(('httpx', 'jwt', 'numbers_iac.emulators'))"
        " or m in ('numbers_iac.providers.plivo', 'numbers_iac.providers.sandbox')]\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
