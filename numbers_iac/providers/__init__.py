"""Provider registry: maps a `type:` in the YAML to its adapter class.

Adding a provider is one line here plus its module; nothing else in the engine changes.
Imports are lazy so that a provider's dependencies load only when it is used.
"""

from __future__ import annotations

import importlib

from numbers_iac.model import ProviderConfig
from numbers_iac.providers.base import Provider

PROVIDER_TYPES: dict[str, str] = {
    "sandbox": "numbers_iac.providers.sandbox:SandboxProvider",
    "plivo": "numbers_iac.providers.plivo:PlivoProvider",
}


def provider_class(type_name: str) -> type[Provider]:
    """The adapter class for a provider type. Raises KeyError for an unknown type."""
    module_name, _, class_name = PROVIDER_TYPES[type_name].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def open_provider(config: ProviderConfig, **kwargs) -> Provider:
    """Instantiate the adapter for a configured provider account."""
    return provider_class(config.type)(config, **kwargs)
