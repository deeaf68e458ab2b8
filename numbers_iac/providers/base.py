"""The provider contract: the small surface every provider adapter implements.

The planner never sees a provider; the engine lists accounts through this interface and the
executor calls its mutations. Every mutation takes a *list* of numbers so that providers with
batch APIs batch and the others loop with bounded concurrency: the flow itself never makes a
round trip per number. What a provider can and cannot do is declared in `Capabilities`, which
the config loader reads to reject declarations the provider cannot honour.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, ClassVar, Protocol

import phonenumbers

from numbers_iac.errors import ConfigError, Problem
from numbers_iac.model import (
    QUANTITY,
    SPECIFIC,
    Account,
    App,
    Attempt,
    Declaration,
    OwnedNumber,
    Price,
    ProviderConfig,
    Where,
)
from numbers_iac.phones import calling_code_and_national, without_trunk, written_prefix

#: how long an attempt whose outcome is unknown holds back its declaration's shortfall
#: before it is closed as not bought (a provider setting, `settle_time`, in seconds)
DEFAULT_SETTLE_SECONDS = 15 * 60


@dataclass(frozen=True)
class Capabilities:
    """What a provider supports; the loader and planner adapt to it instead of special-casing.

    - `native_labels`: labels live on the provider (else in the state store).
    - `ownership_tag`: a provider field can carry the declaration name (Plivo `alias`), so
      ownership survives a lost state.
    - `apps`: numbers can be bound to apps.
    - `purchase_modes`: how the provider sells, in order of preference for quantity
      declarations: `specific` (a search offers numbers, each bought by its own call:
      Plivo, Voximplant, MessageMedia), `quantity` (one blind call buys N numbers in a place,
      numbers unknown until the answer: Aculab), `reserve` (reserve, then buy or cancel the
      reservation: CALLR). Pinned declarations need `specific`.
    - `purchase_concurrency`: specific-number buys the executor may run at once.
    - `pending_orders`: purchases can come back pending (regulated countries).
    - `region_filter` / `prefix_filter`: what a declaration may use to say where.
    - batch sizes: how many numbers one bind / release call may carry; `mutation_concurrency`
      how many of those calls may run at once.
    - `binds_on_purchase`: the buy itself binds the number to the declaration's app (Plivo's
      `app_id`, Aculab's `based_on`). When False (CALLR's store and Voximplant's attach take
      no app), the core binds what a purchase bought right after it, in the provider's bind
      batches and concurrency, each batch journaled like any bind; a bind that fails leaves
      the number bought and recorded, and the next plan binds it.
    """

    native_labels: bool = False
    ownership_tag: bool = False
    apps: bool = True
    purchase_modes: tuple[str, ...] = (SPECIFIC,)
    purchase_concurrency: int = 1
    pending_orders: bool = False
    region_filter: bool = True
    prefix_filter: bool = True
    number_types: tuple[str, ...] = ("local", "national", "mobile", "tollfree")
    list_page_size: int = 20
    bind_batch_size: int = 1
    binds_on_purchase: bool = True
    #: declaration options that shape how a number is bound (Voximplant's routing `rule`):
    #: binds carry them, are grouped by them, and reach `bind_with`
    bind_options: tuple[str, ...] = ()
    release_batch_size: int = 1
    mutation_concurrency: int = 1
    max_labels: int | None = None
    prices_known: bool = True
    #: a quantity or reserve commit that delivers fewer numbers than asked has bought no
    #: more (a partial sale); otherwise the rest is held open as possibly still coming
    short_commit_final: bool = False

    @property
    def purchase_specific(self) -> bool:
        return SPECIFIC in self.purchase_modes


@dataclass(frozen=True)
class Quote:
    """The price of numbers at a location and how many are for sale there (None: unknown;
    some APIs publish no price, and the plan then says "price unknown")."""

    price: Price | None
    available: int | None = None


@dataclass(frozen=True)
class InventoryRow:
    """One line of `numbers-iac inventory`: a region or prefix with stock and prices."""

    country: str
    number_type: str
    region: str | None
    prefix: str | None
    available: int | None
    price: Price | None
    capabilities: tuple[str, ...] = ()


@dataclass(frozen=True)
class PurchaseRequest:
    """What the executor asks a provider to offer for one declaration. `options` are the
    declaration's provider-specific keys (`class`, `state`, `allow_*`, ...)."""

    declaration: str
    count: int
    where: Where | None = None
    pinned: tuple[str, ...] = ()
    app_id: str | None = None
    tag: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Candidate:
    """A specific number an offer proposes. `record` is the adapter's own search record,
    handed back to it in `commit` (prices, ids), never read by the core."""

    number: str
    provider_id: str
    price: Price | None = None
    record: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class Offer:
    """What `commit` would buy, found without spending anything.

    - `specific`: `candidates` to buy one by one (the executor commits offers of one).
    - `quantity`: `count` numbers at `request.where`; no candidates, the numbers are known
      only from the commit's answer.
    - `reserve`: the reserved `candidates`, the reservation `handle` and its `expires_at`
      (ISO 8601); commit buys exactly those, abort gives them back.
    """

    request: PurchaseRequest
    mode: str
    count: int
    candidates: tuple[Candidate, ...] = ()
    handle: str | None = None
    expires_at: str | None = None
    price: Price | None = None

    def single(self, candidate: Candidate) -> Offer:
        """An offer of one of this offer's candidates (what a specific commit buys)."""
        return replace(self, count=1, candidates=(candidate,))


@dataclass(frozen=True)
class Recovery:
    """What an attempt of unknown outcome produced, as far as the provider can tell now:
    numbers the account holds that the attempt bought (possibly pending), and whether the
    provider knows the attempt's whole outcome (`settled`, e.g. from an order's status)."""

    attempt: Attempt
    produced: tuple[OwnedNumber, ...] = ()
    settled: bool = False
    #: the provider could not be asked about some of its numbers (a 5xx on a read-back):
    #: absent from the answer is not absent from the account, so it is held past its time
    uncertain: bool = False


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
    implement the abstract methods. Errors are raised as `ProviderError` subclasses. An
    adapter only speaks its API: what to buy, when to stop and how to survive a lost answer
    is the executor's purchase protocol (offer, commit, abort, recover).
    """

    type_name: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    #: the provider's own settings: setting name -> JSON Schema of its value. The provider part
    #: of `schemas/numbers.schema.json` is generated from it (`numbers_iac.schema_gen`).
    settings_schema: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    #: settings keys the provider accepts besides `type` and the common ones (the loader
    #: rejects others); an adapter sets it to `tuple(settings_schema)`.
    settings_keys: ClassVar[tuple[str, ...]] = ()
    #: per-declaration option keys this provider understands (e.g. `class`).
    declaration_options: ClassVar[tuple[str, ...]] = ()
    #: the options among them that change the price (CALLR's `class`): a purchase setting
    #: one is priced by `quote_options` instead of its place's `quote`
    priced_options: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: ProviderConfig):
        self.config = config
        self.name = config.name
        self.settle_seconds = settle_seconds(config)

    @classmethod
    def validate_declaration(cls, declaration: Declaration) -> list[Problem]:
        """Problems only this provider sees in a declaration (located with
        `declaration.located(field)`), reported by `validate` with the others."""
        return []

    # ----------------------------------------------------------------- reads
    @abc.abstractmethod
    def list_numbers(self, progress: Progress = no_progress) -> tuple[OwnedNumber, ...]:
        """Every number the account owns, all pages, deduplicated by number.

        Raises `ProviderError` if the listing is incomplete (fewer items than the provider's
        own total), never returns a silently short list.
        """

    def list_apps(self) -> tuple[App, ...]:
        """Every app on the account (empty where the provider has no app concept)."""
        return ()

    def account(self, progress: Progress = no_progress) -> Account:
        """The numbers and the apps, the apps read while the numbers are listed (neither
        needs the other): one round trip less on every plan. A failed listing (or Ctrl-C)
        is raised at once, without waiting for the apps; a failed apps read is raised when
        the listing ends."""
        if not self.capabilities.apps:
            return Account(self.name, self.list_numbers(progress), ())
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="apps")
        try:
            apps = pool.submit(self.list_apps)
            numbers = self.list_numbers(progress)
            return Account(self.name, numbers, apps.result())
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    @abc.abstractmethod
    def quote(self, where: Where, count: int) -> Quote:
        """Price per number at `where` and the stock there. Raises `UnknownRegionError`."""

    def quote_options(self, where: Where, count: int, options: Mapping[str, Any]) -> Quote:
        """`quote` for a declaration that sets one of `priced_options` (a Gold number costs
        more than a Classic one at the same place). The default ignores the options."""
        return self.quote(where, count)

    def quote_numbers(self, numbers: Sequence[str]) -> Quote:
        """Price of specific numbers (pinned declarations); raises if one is not for sale.
        The default knows no price: providers that sell specific numbers override it."""
        return Quote(None, None)

    @abc.abstractmethod
    def inventory(self, country: str, number_type: str | None = None) -> list[InventoryRow]:
        """Regions or prefixes for sale in a country, with stock and prices."""

    def check_purchase(self, where: Where | None, options: Mapping[str, Any]) -> None:
        """Plan-time check of a declaration's provider options against the account, for a
        declaration that buys (a regulation address the account must hold). Raises
        `DeclarationOptionError` naming the option; the plan reports it located at that
        option with every other problem. The default checks nothing."""
        return None

    def plan_warnings(self) -> tuple[str, ...]:
        """What a plan that buys on this account must say loudly about how it buys (a
        rehearsal mode where nothing is bought). The default says nothing."""
        return ()

    def release_warnings(self) -> tuple[str, ...]:
        """What a plan that releases numbers on this account must say about releasing here
        (MessageMedia holds a released number for its last owner for a while). The default
        says nothing."""
        return ()

    def listing_warnings(self) -> tuple[str, ...]:
        """What the last `list_numbers` found that a plan on this account must say, though
        no action follows from it (Voximplant detaches numbers still unverified on a date).
        The default says nothing."""
        return ()

    # ----------------------------------------------------------------- the purchase protocol
    def offer(self, request: PurchaseRequest, count: int, exclude: frozenset[str]) -> Offer:
        """Find up to `count` numbers to buy for `request`, spending nothing (a reservation
        is not spending: `abort` gives it back). `exclude` holds numbers this apply already
        tried; a specific offer never proposes them again. An offer with no candidates (and
        a count of 0) means nothing more is for sale.

        The default serves pinned requests: the pinned numbers not yet tried."""
        pinned = [n for n in request.pinned if n not in exclude][:count]
        return Offer(
            request,
            SPECIFIC,
            len(pinned),
            tuple(Candidate(n, n.lstrip("+")) for n in pinned),
        )

    def commit(self, offer: Offer) -> tuple[OwnedNumber, ...]:
        """Pay for an offer and return what was bought (fewer than offered is allowed for
        quantity and reserve offers). Raise `NumberUnavailableError` when the provider says
        a specific number cannot be bought (nothing was spent), `OfferExpiredError` when a
        reservation lapsed, and `OutcomeUnknownError` whenever the purchase may or may not
        have happened (timeout, reset, 5xx): never retry a commit blindly."""
        raise NotImplementedError(f"{self.type_name} does not implement commit")

    def abort(self, offer: Offer) -> None:
        """Give back what an offer holds (a reservation). Nothing to do elsewhere."""
        return None

    def recover(self, attempts: Sequence[Attempt], account: Account) -> list[Recovery]:
        """Which numbers attempts of unknown outcome produced. The default reads the
        listing: a specific or reserved number that the account now holds was bought by its
        attempt; a quantity order may have produced any number at its place listed since it
        started (the planner keeps those no one else claims, up to the order's count).
        Providers that can ask more precisely (an order's status, a number read back while
        still pending) override this and call it first."""
        return [recover_from_listing(attempt, account) for attempt in attempts]

    # ----------------------------------------------------------------- other mutations
    @abc.abstractmethod
    def bind(self, numbers: Sequence[OwnedNumber], app_id: str | None) -> BatchOutcome:
        """Bind every number (as the listing shows it) to `app_id`, or unbind when None."""

    def bind_with(
        self, numbers: Sequence[OwnedNumber], app_id: str | None, options: Mapping[str, Any]
    ) -> BatchOutcome:
        """`bind` with the declaration's `capabilities.bind_options` (empty when it sets
        none). The default ignores them: only providers that declare some override this."""
        return self.bind(numbers, app_id)

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


def recover_from_listing(attempt: Attempt, account: Account) -> Recovery:
    """What the listing alone says an attempt produced (see `Provider.recover`).

    A blind order may have produced a number at its place that carries its declaration's
    tag, or that the account got since the order started; a number without a date is
    never taken for it (it may be one bought by hand)."""
    if attempt.mode == QUANTITY:
        where = attempt.where
        produced = tuple(
            n
            for n in account.numbers
            if where is not None
            and may_come_from(n, where)
            and (
                n.tag == attempt.declaration
                or (not n.tag and _acquired_since(n.acquired_on, attempt.started_at))
            )
        )
        return Recovery(attempt, produced)
    wanted = set(attempt.numbers)
    produced = tuple(n for n in account.numbers if n.number in wanted)
    return Recovery(attempt, produced, settled=len(produced) == len(wanted))


def setting_problem(config: ProviderConfig, key: str, message: str) -> ConfigError:
    """A provider setting that cannot work, located at its line (at the provider's, for a
    setting not written), as the loader reports the mistakes it finds itself."""
    source = config.sources.get(key) or config.source
    return ConfigError(
        [
            Problem(
                file=source.file if source else "<config>",
                line=source.line if source else None,
                column=source.column if source else None,
                path=f"providers.{config.name}.{key}",
                message=message,
            )
        ]
    )


def may_come_from(number: OwnedNumber, where: Where) -> bool:
    """Whether a listed number may come from a purchase at `where` (fields the listing
    does not carry do not rule it out)."""
    if number.country and number.country != where.country:
        return False
    if number.number_type and number.number_type != where.number_type:
        return False
    if where.prefix and not fits_prefix(number.number, where.prefix):
        return False
    return not (where.region and number.region and number.region.lower() != where.region.lower())


def fits_prefix(number: str, prefix: str) -> bool:
    """Whether a number's national digits start with a declared prefix: "+33 3 22", "0322"
    and "322" alike mean +33 322... (a trunk is no digit of the number: "06 1" is Budapest's
    1, as `phones.without_trunk` says). The prefix as written fits too (Rwanda's numbers
    start with 06 themselves), and leading zeros are not held against a number (Voximplant
    finds Rome's +39 06 for a prefix "6"): a number held is called unfit only when it plainly
    is. `number` is the E.164 number, never a listing's `provider_id` (an id or a hash on
    most providers); a number that is not plain `+digits` is not ruled out."""
    split = calling_code_and_national(number)
    international, digits = written_prefix(prefix)
    if split is None or not digits:
        return True
    calling_code, national = split
    if international:
        if not digits.startswith(calling_code):
            return False
        readings = [digits[len(calling_code) :]]
    else:
        region = phonenumbers.region_code_for_country_code(int(calling_code))
        readings = [digits, without_trunk(digits, region)]
    bare = national.lstrip("0")
    return any(national.startswith(r) or bare.startswith(r.lstrip("0")) for r in readings)


def _acquired_since(acquired: str | None, started: str) -> bool:
    """Whether a number the account got at `acquired` may come from an order placed at
    `started` (ISO 8601). A date alone compares by day; a time by time."""
    if not acquired:
        return False
    if len(acquired) <= 10:
        return acquired >= started[:10]
    try:
        return datetime.fromisoformat(acquired) >= datetime.fromisoformat(started)
    except (TypeError, ValueError):
        return acquired[:10] >= started[:10]


def parse_duration(value: Any) -> float | None:
    """Seconds from a number or a string like "90s", "15m", "1h", "1d"; None when the value
    is not a finite, non-negative duration (NaN would make every attempt lapse at once)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = str(value).strip().lower()
        units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
        unit = units.get(text[-1:])
        try:
            seconds = float(text[:-1]) * unit if unit else float(text)
        except ValueError:
            return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def settle_seconds(config: ProviderConfig) -> float:
    """The provider's `settle_time` setting, in seconds (the loader has checked it)."""
    value = config.settings.get("settle_time", DEFAULT_SETTLE_SECONDS)
    seconds = parse_duration(value)
    if seconds is None:
        from numbers_iac.errors import ProviderError

        raise ProviderError(
            config.name,
            "read settings",
            f"settle_time {value!r} is not a duration (seconds, or like 90s, 15m, 1h)",
        )
    return seconds


def for_sale_hint(where: Where, rows: Sequence[InventoryRow], limit: int = 12) -> str:
    """What could be written instead, as a sentence, for a search that found nothing at
    `where`, from the inventory `rows` of its country and type: the capabilities offered when
    none sells all those asked, the prefixes for sale when a prefix was asked (within the
    region, when the region itself sells), else the regions.
    Items are separated by "; " because region names hold commas ("AMIENS, FRANCE").
    Empty when nothing sells there."""
    rows = [r for r in rows if r.available != 0]  # sold out is not for sale
    wanted = set(where.capabilities)
    if wanted and rows and not any(wanted <= set(r.capabilities) for r in rows):
        offered = sorted({c for r in rows for c in r.capabilities})
        return f"Capabilities for sale: {'; '.join(offered)}" if offered else ""
    in_region = [r for r in rows if where.region and _same_region(r.region, where.region)]
    regions = sorted({r.region for r in rows if r.region})
    if (where.prefix and (in_region or not where.region)) or not regions:
        found = {(r.prefix, r.region or "") for r in in_region or rows if r.prefix}
        label = "Prefixes for sale"
        items = [f"{prefix} ({region})" if region else prefix for prefix, region in sorted(found)]
    else:
        label, items = "Regions for sale", regions
    if not items:
        return ""
    more = f"; and {len(items) - limit} more" if len(items) > limit else ""
    return f"{label}: {'; '.join(items[:limit])}{more}"


def _same_region(listed: str | None, asked: str) -> bool:
    """Whether a region name as written means the listed one: "Amiens" means "AMIENS, FRANCE"."""
    if not listed:
        return False
    asked, full = asked.strip().casefold(), listed.casefold()
    return asked in (full, full.split(",")[0].strip())
