"""The provider registry: one entry per provider type, naming its adapter and its emulator.

The adapter class also carries the type's settings schema (`Provider.settings_schema`), so one
entry says everything the rest of the code needs about a provider: the loader checks settings
against the adapter, `emulators.serve` finds the emulator here, and the provider part of
`schemas/numbers.schema.json` is generated from this module (`python -m numbers_iac.schema_gen`).
Adding a provider is its adapter module, its emulator module, one line in `REGISTRY` and its
tests.

Entries name classes as "module:Class" strings imported on use, so a provider's dependencies
load only when that provider is used.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from numbers_iac.model import ProviderConfig
from numbers_iac.providers.base import Provider


@dataclass(frozen=True)
class ProviderEntry:
    """One provider type: its adapter and its emulator, as "module:Class" names.

    `emulator` is None only for a provider that speaks no HTTP API (the sandbox, a simulated
    account on local disk): there is nothing to emulate, and such a type takes no `base_url`.
    """

    adapter: str
    emulator: str | None

    def adapter_class(self) -> type[Provider]:
        return _load(self.adapter)

    def emulator_class(self) -> type | None:
        return None if self.emulator is None else _load(self.emulator)

    def settings_schema(self) -> Mapping[str, Mapping[str, Any]]:
        """The type's own settings: setting name -> JSON Schema of its value."""
        return self.adapter_class().settings_schema


REGISTRY: Mapping[str, ProviderEntry] = MappingProxyType(
    {
        "sandbox": ProviderEntry("numbers_iac.providers.sandbox:SandboxProvider", None),
        "plivo": ProviderEntry(
            "numbers_iac.providers.plivo:PlivoProvider", "numbers_iac.emulators.plivo:PlivoEmulator"
        ),
        "aculab": ProviderEntry(
            "numbers_iac.providers.aculab:AculabProvider",
            "numbers_iac.emulators.aculab:AculabEmulator",
        ),
        "callr": ProviderEntry(
            "numbers_iac.providers.callr:CallrProvider", "numbers_iac.emulators.callr:CallrEmulator"
        ),
        "voximplant": ProviderEntry(
            "numbers_iac.providers.voximplant:VoximplantProvider",
            "numbers_iac.emulators.voximplant:VoximplantEmulator",
        ),
        "messagemedia": ProviderEntry(
            "numbers_iac.providers.messagemedia:MessageMediaProvider",
            "numbers_iac.emulators.messagemedia:MessageMediaEmulator",
        ),
    }
)

#: types whose adapter has not shipped: the schema does not offer them, and the loader answers
#: "not available in this version" instead of "not one of"
PLANNED_TYPES: tuple[str, ...] = ()

#: types that talk to no HTTP API (see `ProviderEntry.emulator`)
LOCAL_TYPES: frozenset[str] = frozenset(t for t, e in REGISTRY.items() if e.emulator is None)

#: types with an emulator, for `numbers-iac emulator` and the test harness
EMULATED_TYPES: tuple[str, ...] = tuple(t for t, e in REGISTRY.items() if e.emulator)

#: settings every provider takes besides its own (`settle_time` is read by `Provider`)
COMMON_SETTINGS_SCHEMA: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "settle_time": {
            "description": 'Every provider: how long a purchase attempt whose outcome is unknown (a lost or ambiguous answer) holds back its declaration\'s shortfall before it counts as not bought, so that an order still in flight is not bought twice. Seconds as a number, or a duration such as "90s", "15m", "1h" or "1d". Default 15m.',
            "type": ["number", "string"],
            "minimum": 0,
            "pattern": "^[0-9]+(\\.[0-9]+)?[smhd]?$",
            "default": "15m",
        },
    }
)

#: settings every provider that speaks HTTP takes besides its own (every type not in
#: `LOCAL_TYPES`; `base_url` is read by each adapter when it builds its `HttpClient`)
HTTP_SETTINGS_SCHEMA: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "base_url": {
            "description": "HTTP providers: the API root, to go through a proxy or talk to an emulator. Defaults to the provider's public API.",
            "type": "string",
            # a ${VAR} as editors read it, unresolved; resolved, checks.base_url refuses it
            "pattern": "^(?:https?://|\\$\\{)",
        },
    }
)

#: provider type -> "module:Class" of its adapter, from `REGISTRY`. A plain dict so that tests
#: can register a fake adapter under a planned type (`monkeypatch.setitem`).
PROVIDER_TYPES: dict[str, str] = {t: e.adapter for t, e in REGISTRY.items()}


def provider_class(type_name: str) -> type[Provider]:
    """The adapter class for a provider type. Raises KeyError for an unknown type."""
    return _load(PROVIDER_TYPES[type_name])


def open_provider(config: ProviderConfig, **kwargs: Any) -> Provider:
    """Instantiate the adapter for a configured provider account."""
    return provider_class(config.type)(config, **kwargs)


def emulator_class(type_name: str) -> type:
    """The emulator class for a provider type. Raises KeyError for a type without one."""
    emulator = REGISTRY[type_name].emulator_class()
    if emulator is None:
        raise KeyError(type_name)
    return emulator


def _load(name: str) -> Any:
    module_name, _, attribute = name.partition(":")
    return getattr(importlib.import_module(module_name), attribute)
