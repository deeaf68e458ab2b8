"""Provider adapters, one module per provider; `registry` maps a `type:` in the YAML to them."""

from numbers_iac.providers.registry import (
    PROVIDER_TYPES,
    REGISTRY,
    ProviderEntry,
    open_provider,
    provider_class,
)

__all__ = ["PROVIDER_TYPES", "REGISTRY", "ProviderEntry", "open_provider", "provider_class"]
