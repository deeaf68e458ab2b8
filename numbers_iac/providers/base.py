"""The provider contract: the small surface every provider adapter implements.

The planner never sees a provider; the engine lists accounts through this interface and the
executor calls its mutations. Every mutation takes a *list* of numbers so that providers with
batch APIs batch and the others loop with bounded concurrency: the flow itself never makes a
round trip per number. What a provider can and cannot do is declared in `Capabilities`, which
the config loader reads to reject declarations the provider cannot honour.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from numbers_iac.model import Account, App, OwnedNumber, Price, ProviderConfig, Where


@dataclass(frozen=True)
class Capabilities:
    """What a provider supports; the loader and planner adapt to it instead of special-casing.

    - `native_labels`: labels live on the provider (else in the state store).
    - `ownership_tag`: a provider field can carry the declaration name (Plivo `alias`), so
      ownership survives a lost state.
    - `apps`: numbers can be bound to apps.
    - `purchase_by_quantity`: one call buys N numbers in a region (Aculab, CALLR).
    - `purchase_specific`: a given number can be bought (pinned declarations need it).
    - `pending_orders`: purchases can come back pending (regulated countries).
    - `region_filter` / `prefix_filter`: what a declaration may use to say where.
    - batch sizes: how many numbers one bind / release call may carry.
    """

    native_labels: bool = False
    ownership_tag: bool = False
    apps: bool = True
    purchase_by_quantity: bool = False
    purchase_specific: bool = True
    pending_orders: bool = False
    region_filter: bool = True
    prefix_filter: bool = True
    number_types: tuple[str, ...] = ("local", "national", "mobile", "tollfree")
    list_page_size: int = 20
    bind_batch_size: int = 1
    release_batch_size: int = 1
    max_labels: int | None = None


@dataclass(frozen=True)
class Quote:
    """The price of numbers at a location and how many are for sale there (None: unknown)."""

    price: Price
    available: int | None = None


@dataclass(frozen=True)
class InventoryRow:
    """One line of `numbers-iac inventory`: a region or prefix with stock and prices."""

    country: str
    number_type: str
    region: str | None
    prefix: str | None
    available: int | None
    price: Price
    capabilities: tuple[str, ...] = ()


@dataclass(frozen=True)
class PurchaseRequest:
    """What the executor asks a provider to buy for one declaration."""

    declaration: str
    count: int
    where: Where | None = None
    pinned: tuple[str, ...] = ()
    app_id: str | None = None
    tag: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    #: checked between individual buys: when it returns True the provider buys no more and
    #: returns what it bought (an interrupted apply stops after the number in flight)
    should_stop: Callable[[], bool] = field(default=lambda: False, compare=False, repr=False)
    #: called with a number (E.164) just before the call that buys that specific number, so
    #: the executor journals it first: a process killed before it hears the answer leaves a
    #: trace the next plan adopts from, instead of buying again. Providers where the number
    #: is unknown until bought (quantity purchases) must make the purchase and the ownership
    #: tag one atomic step instead.
    on_attempt: Callable[[str], None] = field(
        default=lambda number: None, compare=False, repr=False
    )


@dataclass(frozen=True)
class PurchaseOutcome:
    """What a purchase produced. A short outcome (fewer than asked) is not an exception:
    what arrived is recorded and the next plan asks for the rest. `error` explains the gap.
    """

    bought: tuple[OwnedNumber, ...] = ()
    pending_order_ids: tuple[str, ...] = ()
    error: Exception | None = None


@dataclass(frozen=True)
class BatchOutcome:
    """Per-number result of a batch mutation: the numbers done and the ones that failed, why."""

    done: tuple[str, ...] = ()
    failed: Mapping[str, str] = field(default_factory=dict)


class Progress(Protocol):
    """Receives progress of long listings and applies (the CLI draws a bar on stderr)."""

    def __call__(self, done: int, total: int | None) -> None: ...


def no_progress(done: int, total: int | None) -> None:
    """The default: report nothing."""


class Provider(abc.ABC):
    """A provider account. One instance per entry under `providers:`.

    Subclasses set `type_name` and `capabilities`, read their settings in `__init__`, and
    implement the abstract methods. Errors are raised as `ProviderError` subclasses.
    """

    type_name: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    #: settings keys the provider accepts besides `type` (the loader rejects others).
    settings_keys: ClassVar[tuple[str, ...]] = ()
    #: per-declaration option keys this provider understands (e.g. `class`).
    declaration_options: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: ProviderConfig):
        self.config = config
        self.name = config.name

    # ----------------------------------------------------------------- reads
    @abc.abstractmethod
    def list_numbers(self, progress: Progress = no_progress) -> tuple[OwnedNumber, ...]:
        """Every number the account owns, all pages, deduplicated by number.

        Raises `ProviderError` if the listing is incomplete (fewer items than the provider's
        own total), never returns a silently short list.
        """

    @abc.abstractmethod
    def list_apps(self) -> tuple[App, ...]:
        """Every app on the account (empty where the provider has no app concept)."""

    def account(self, progress: Progress = no_progress) -> Account:
        apps = self.list_apps() if self.capabilities.apps else ()
        return Account(self.name, self.list_numbers(progress), apps)

    @abc.abstractmethod
    def quote(self, where: Where, count: int) -> Quote:
        """Price per number at `where` and the stock there. Raises `UnknownRegionError`."""

    @abc.abstractmethod
    def quote_numbers(self, numbers: Sequence[str]) -> Quote:
        """Price of specific numbers (pinned declarations); raises if one is not for sale."""

    @abc.abstractmethod
    def inventory(self, country: str, number_type: str | None = None) -> list[InventoryRow]:
        """Regions or prefixes for sale in a country, with stock and prices."""

    # ----------------------------------------------------------------- mutations
    @abc.abstractmethod
    def purchase(
        self, request: PurchaseRequest, on_bought: Callable[[OwnedNumber], None]
    ) -> PurchaseOutcome:
        """Buy up to `request.count` numbers, never more, never the same number twice.

        `on_bought` is called for each number as soon as the provider confirms it, so the
        executor records it before anything else can go wrong.
        """

    @abc.abstractmethod
    def bind(self, numbers: Sequence[OwnedNumber], app_id: str | None) -> BatchOutcome:
        """Bind every number to `app_id`, or unbind them when it is None."""

    def set_labels(
        self, changes: Sequence[tuple[OwnedNumber, str | None, Mapping[str, str]]]
    ) -> BatchOutcome:
        """Write (number, tag, labels) to the provider. Only called for providers with
        `native_labels` or `ownership_tag`; the default does nothing and reports success."""
        return BatchOutcome(done=tuple(n.number for n, _, _ in changes))

    @abc.abstractmethod
    def release(self, numbers: Sequence[OwnedNumber]) -> BatchOutcome:
        """Give the numbers back. A number already gone counts as done."""

    def close(self) -> None:
        """Release connections and write back local state."""
        return None

    def __enter__(self) -> Provider:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
