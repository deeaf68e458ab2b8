"""The data every stage of the flow hands to the next.

config -> `Desired`; providers -> `Account` (observed); state store -> `Recorded`;
planner -> `Plan` made of `Action`s. Everything here is a frozen dataclass with no behaviour
beyond describing and (de)serialising itself, so the planner can be tested with plain data.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal
from functools import cached_property
from typing import Any, ClassVar

from numbers_iac.errors import Problem

NUMBER_TYPES = ("local", "national", "mobile", "tollfree")
CAPABILITIES = ("voice", "sms", "mms")
ACTIVE = "active"
PENDING = "pending"
#: the three shapes of a purchase (see providers/base.py `Capabilities.purchase_modes`)
SPECIFIC, QUANTITY, RESERVE = "specific", "quantity", "reserve"
PURCHASE_MODES = (SPECIFIC, QUANTITY, RESERVE)


@dataclass(frozen=True)
class SourceRef:
    """Where something was written in the configuration file (1-based line and column)."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Where:
    """What a provider's search needs to find numbers to buy."""

    country: str
    number_type: str
    region: str | None = None
    prefix: str | None = None
    capabilities: tuple[str, ...] = ()

    def describe(self) -> str:
        place = (
            f"region {self.region}"
            if self.region
            else (f"prefix {self.prefix}" if self.prefix else "any region")
        )
        return f"{self.country} {self.number_type}, {place}"


@dataclass(frozen=True)
class Price:
    """The price of one number, in the provider's currency, as decimal amounts."""

    setup: Decimal
    monthly: Decimal
    currency: str = "USD"


# --------------------------------------------------------------------------- desired


@dataclass(frozen=True)
class Declaration:
    """One named entry under `numbers:`: how many numbers, where, bound to what.

    `quantity` is the total wanted, pinned numbers included; `pinned` holds E.164 numbers that
    must be exactly these. `options` carries provider-specific keys (e.g. a number class).
    """

    name: str
    provider: str
    quantity: int
    country: str | None = None
    number_type: str | None = None
    region: str | None = None
    prefix: str | None = None
    capabilities: tuple[str, ...] = ()
    pinned: tuple[str, ...] = ()
    app: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    protect: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)
    #: old names whose numbers move into this declaration (renames never release)
    moved_from: tuple[str, ...] = ()
    #: days a number no longer wanted is kept in quarantine before release (None: as
    #: `safety.release_after` says; 0: released at once)
    release_after: int | None = None
    source: SourceRef | None = field(default=None, compare=False)
    #: where each field was written (`"app"` -> its SourceRef), for errors found after loading
    field_sources: Mapping[str, SourceRef] = field(default_factory=dict, compare=False, repr=False)

    def located(self, field_name: str) -> SourceRef | None:
        """The source of one field, falling back to the declaration itself."""
        return self.field_sources.get(field_name, self.source)

    def where(self) -> Where | None:
        """The purchase location, or None when the declaration can only hold pinned numbers."""
        if not self.country or not self.number_type:
            return None
        return Where(self.country, self.number_type, self.region, self.prefix, self.capabilities)


@dataclass(frozen=True)
class ProviderConfig:
    """A provider account from `providers:`. `settings` may hold secrets: never print it."""

    name: str
    type: str
    settings: Mapping[str, Any] = field(default_factory=dict, repr=False)
    source: SourceRef | None = field(default=None, compare=False)
    base_dir: str = "."
    #: where each setting was written, so a setting that cannot work is reported at its line
    sources: Mapping[str, SourceRef] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class StateConfig:
    """Where the state store lives. `path` is absolute once the config is loaded."""

    backend: str = "sqlite"
    path: str | None = None
    dsn: str | None = field(default=None, repr=False)


#: releases an apply may make when `safety:` does not say: a typo in a quantity must not
#: release a whole account (raise it for one run with `--max-releases N`)
DEFAULT_MAX_RELEASES = 100


@dataclass(frozen=True)
class Safety:
    """The `safety:` block: limits an apply must stay within (None: no limit), and the
    cooling-off period of numbers no longer wanted (`release_after`, in days)."""

    max_purchases: int | None = None
    max_releases: int | None = DEFAULT_MAX_RELEASES
    #: of the numbers a provider account has under management, at every size
    max_release_percent: Decimal | None = None
    #: in the plan's currency (each currency on its own), known prices only
    max_monthly_increase: Decimal | None = None
    release_after: int | None = None


@dataclass(frozen=True)
class Desired:
    """The validated configuration: everything the user asked for."""

    config_path: str
    config_digest: str
    providers: Mapping[str, ProviderConfig]
    declarations: Mapping[str, Declaration]
    state: StateConfig
    safety: Safety = field(default_factory=Safety)
    #: the `safety:` block as written, when this run's command line overrides it (`safety`
    #: then holds the limits in force)
    configured_safety: Safety | None = None
    #: per provider, the environment variables its settings read that are not set (see
    #: `load_config`'s `providers_on_use`): opening that provider reports them
    unresolved: Mapping[str, tuple[Problem, ...]] = field(default_factory=dict, compare=False)

    def release_after(self, declaration: str) -> int:
        """Days of cooling-off for the numbers `declaration` no longer wants (0: none). A
        removed declaration can no longer say: `safety.release_after` decides."""
        written = self.declarations.get(declaration)
        days = written.release_after if written is not None else None
        if days is None:
            days = self.safety.release_after
        return days or 0


# --------------------------------------------------------------------------- observed


@dataclass(frozen=True)
class OwnedNumber:
    """A number the provider account holds, as its listing shows it.

    `provider_id` is the provider's own handle (Plivo: the digits; others: an id or hash).
    `tag` is the provider's free-text field where we write the declaration name (Plivo
    `alias`), None where the provider has none. `labels` is None unless the provider stores
    labels natively.
    """

    number: str
    provider_id: str
    country: str | None = None
    number_type: str | None = None
    region: str | None = None
    app_id: str | None = None
    tag: str | None = None
    labels: Mapping[str, str] | None = None
    status: str = ACTIVE
    monthly: Decimal | None = None
    currency: str = "USD"
    #: when the account got it (ISO date or time), where the provider says
    acquired_on: str | None = None


@dataclass(frozen=True)
class App:
    """An application on the provider that numbers can be bound to."""

    app_id: str
    name: str


@dataclass(frozen=True)
class Account:
    """What one provider account holds: its numbers and its apps."""

    provider: str
    numbers: tuple[OwnedNumber, ...]
    apps: tuple[App, ...] = ()

    def fingerprint(self) -> str:
        """A digest of the listing, so a saved plan can tell the account changed since, and
        say what (`digest_parts`): the counts, then a digest per part. The columns are read
        in number order, so they compare only while the same numbers are held."""
        numbers = sorted(self.numbers, key=lambda n: n.number)
        return parted_digest(
            {"numbers": len(numbers), "apps": len(self.apps)},
            {
                "held": [n.number for n in numbers],
                "bound": [n.app_id or "" for n in numbers],
                "tagged": [n.tag or "" for n in numbers],
                "labelled": [_labels_text(n.labels) for n in numbers],
                "status": [n.status for n in numbers],
                "apps": sorted((a.app_id, a.name) for a in self.apps),
            },
        )


@dataclass(frozen=True)
class DigestParts:
    """A fingerprint made by `parted_digest`, read back: its counts and each part's digest."""

    counts: Mapping[str, int]
    digests: Mapping[str, str]


def parted_digest(counts: Mapping[str, int], parts: Mapping[str, Any]) -> str:
    """A fingerprint that still says what changed: `numbers#3;apps#1;held=<digest>;...`."""
    return ";".join(
        [
            *(f"{name}#{count}" for name, count in counts.items()),
            *(f"{name}={_digest(value)[:32]}" for name, value in parts.items()),
        ]
    )


def digest_parts(fingerprint: str) -> DigestParts | None:
    """`parted_digest`'s text read back; None for any other (a plan file written before
    fingerprints had parts)."""
    counts: dict[str, int] = {}
    digests: dict[str, str] = {}
    for part in fingerprint.split(";"):
        name, sep, count = part.partition("#")
        if sep and count.isascii() and count.isdigit():
            counts[name] = int(count)
            continue
        name, sep, digest = part.partition("=")
        if not sep:
            return None
        digests[name] = digest
    return DigestParts(counts, digests)


# --------------------------------------------------------------------------- recorded


@dataclass(frozen=True, slots=True)
class ManagedNumber:
    """The state store's record of a number this tool manages, and what it last applied."""

    provider: str
    number: str
    declaration: str
    provider_id: str
    #: the app the number is bound to, by name, as last applied
    app: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    protect: bool = False
    status: str = ACTIVE
    created_at: str = ""
    #: ISO date: the number is no longer wanted, unbound and kept until then (cooling-off);
    #: an apply on or after it releases it (with --allow-release)
    quarantine_until: str | None = None


@dataclass(frozen=True)
class PendingOrder:
    """A purchase the provider accepted but has not delivered (regulated countries).

    `numbers` lists the numbers when the provider named them; `quantity` counts what was
    ordered, so the planner does not buy the same shortfall again.
    """

    order_id: str
    provider: str
    declaration: str
    quantity: int
    numbers: tuple[str, ...] = ()
    created_at: str = ""


@dataclass(frozen=True)
class JournalEntry:
    """One provider call apply made: its intent, and its outcome once known.

    `outcome` is None while the call is in flight (or its process died), "unknown" when the
    answer was ambiguous; both keep the entry open until the listing settles it."""

    entry_id: int
    apply_id: str
    started_at: str
    operation: str
    provider: str
    declaration: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    outcome: str | None = None
    detail: str | None = None
    finished_at: str | None = None


@dataclass(frozen=True)
class Attempt:
    """A purchase attempt whose outcome is not known: journaled before its commit and not
    closed since (killed process, lost or late answer).

    `mode` says what was journaled: specific `numbers`, a blind order of `count` at `where`,
    or a reservation (`handle`, `expires_at`, its `numbers`)."""

    entry_id: int
    provider: str
    declaration: str
    mode: str
    count: int
    started_at: str
    numbers: tuple[str, ...] = ()
    where: Where | None = None
    handle: str | None = None
    expires_at: str | None = None


@dataclass(frozen=True)
class Settlement:
    """An open attempt as the engine found it at plan time: the numbers it produced (from
    the provider's `recover`), its age, and whether its time to settle has passed."""

    attempt: Attempt
    produced: tuple[OwnedNumber, ...] = ()
    age_seconds: int = 0
    expired: bool = False
    settled: bool = False
    #: the provider could not tell about some of its numbers: never counted as not bought
    uncertain: bool = False


@dataclass(frozen=True)
class Recorded:
    """Everything the state store remembers, keyed for the planner's lookups."""

    numbers: Mapping[tuple[str, str], ManagedNumber] = field(default_factory=dict)
    orders: tuple[PendingOrder, ...] = ()
    #: (provider, number) an interrupted apply was releasing -> its open journal entry
    releasing: Mapping[tuple[str, str], int] = field(default_factory=dict)
    #: purchase attempts whose outcome is unknown (see `journal.open_attempts`)
    attempts: tuple[Attempt, ...] = ()

    def fingerprint(self) -> str:
        """A digest of the state, so a saved plan can tell another apply ran since, and say
        what it left (`digest_parts`): which numbers are managed and by which declaration,
        what was last applied to them, the orders waiting and the calls in doubt."""
        managed = sorted(self.numbers.values(), key=lambda m: (m.provider, m.number))
        orders = sorted((o.order_id, o.provider, o.declaration, o.quantity) for o in self.orders)
        return parted_digest(
            {"managed": len(managed), "orders": len(orders), "attempts": len(self.attempts)},
            {
                "held": [(m.provider, m.number) for m in managed],
                "declared": [m.declaration for m in managed],
                "applied": [
                    (m.app or "", _labels_text(m.labels), m.status, m.quarantine_until or "")
                    for m in managed
                ],
                "orders": orders,
                "attempts": sorted(a.entry_id for a in self.attempts),
            },
        )


# --------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class Action:
    """Base of every planned change. `kind` names it in plans and journals."""

    kind: ClassVar[str] = ""
    irreversible: ClassVar[bool] = False
    provider: str
    declaration: str

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        for f in fields(self):
            out[f.name] = _to_json(getattr(self, f.name))
        return out


@dataclass(frozen=True)
class Purchase(Action):
    """Buy `count` numbers for a declaration: the `pinned` ones, or any from `where`."""

    kind: ClassVar[str] = "purchase"
    count: int = 1
    where: Where | None = None
    pinned: tuple[str, ...] = ()
    app: str | None = None
    app_id: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    protect: bool = False
    price: Price | None = None
    #: the declaration's provider-specific keys (`class`, `state`, ...), for the adapter
    options: Mapping[str, Any] = field(default_factory=dict)

    def setup_cost(self) -> Decimal:
        return self.price.setup * self.count if self.price else Decimal(0)

    def monthly_cost(self) -> Decimal:
        return self.price.monthly * self.count if self.price else Decimal(0)


@dataclass(frozen=True)
class Adopt(Action):
    """Start managing a number the account already owns (pinned, tagged, or imported), or
    update what the state records of it (protection, a pending number now delivered)."""

    kind: ClassVar[str] = "adopt"
    number: str = ""
    provider_id: str = ""
    reason: str = ""
    protect: bool = False
    status: str = ACTIVE
    #: the app the number is bound to now, by name (recorded; a Bind follows if it is wrong)
    app: str | None = None
    #: when the provider says the account got it: recorded as its age, so "newest first"
    #: releases stay right after a lost state is rebuilt
    acquired_on: str | None = None
    #: the number's ownership tag on the provider names this declaration and the state only
    #: lacks the record (a lost state file): the account already matches, so this is not a
    #: change (the plan says "No changes"), and any apply records it
    recognised: bool = False


#: the reason of an `Adopt` that only records a binding the provider already has as
#: declared (a bind that landed while its apply was killed before recording it)
APP_CAUGHT_UP = "bound as declared on the provider; the state missed it (an interrupted apply)"


@dataclass(frozen=True)
class Move(Action):
    """A renamed declaration keeps its numbers: the state records the number under its new
    declaration, no provider call (a Bind or SetLabels beside it does what differs).
    `proposed`: the planner found the rename on its own; apply refuses until the user
    confirms it with `moved_from` (or chooses release and purchase with `--replace`)."""

    kind: ClassVar[str] = "move"
    number: str = ""
    provider_id: str = ""
    moved_from: str = ""
    proposed: bool = False
    protect: bool = False
    status: str = ACTIVE
    app: str | None = None


@dataclass(frozen=True)
class Bind(Action):
    """Bind a number to an app, or unbind it (`app` None)."""

    kind: ClassVar[str] = "bind"
    number: str = ""
    provider_id: str = ""
    app_before: str | None = None
    app: str | None = None
    app_id: str | None = None
    #: the declaration's options that shape a binding (the provider's `bind_options`, such
    #: as Voximplant's routing `rule`), for the adapter
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SetLabels(Action):
    """Change a number's labels, and its ownership tag where the provider has one."""

    kind: ClassVar[str] = "labels"
    number: str = ""
    provider_id: str = ""
    before: Mapping[str, str] = field(default_factory=dict)
    after: Mapping[str, str] = field(default_factory=dict)
    tag_before: str | None = None
    tag: str | None = None
    app_id: str | None = None


@dataclass(frozen=True)
class Release(Action):
    """Give a number back to the provider. Irreversible: customers may be dialling it."""

    kind: ClassVar[str] = "release"
    irreversible: ClassVar[bool] = True
    number: str = ""
    provider_id: str = ""
    reason: str = ""
    monthly: Decimal | None = None
    currency: str = "USD"


@dataclass(frozen=True)
class Quarantine(Action):
    """Cooling-off instead of a release: the number is no longer wanted, so it is unbound
    (a Bind beside it) and marked in the state until `until` (ISO date); it keeps costing
    money, and an apply on or after that date releases it. Wanting it back before then
    takes it out of quarantine (`Restore`) instead of buying another."""

    kind: ClassVar[str] = "quarantine"
    number: str = ""
    provider_id: str = ""
    until: str = ""
    reason: str = ""
    monthly: Decimal | None = None
    currency: str = "USD"


@dataclass(frozen=True)
class Restore(Action):
    """Take a number out of quarantine: it is wanted again (state only; a Bind beside it
    binds it back to its app)."""

    kind: ClassVar[str] = "restore"
    number: str = ""
    provider_id: str = ""
    #: the date its quarantine would have ended
    until: str = ""


@dataclass(frozen=True)
class Forget(Action):
    """Drop a managed number from the state after the user accepted it is gone."""

    kind: ClassVar[str] = "forget"
    number: str = ""


@dataclass(frozen=True)
class Settle(Action):
    """Close a journal entry of unknown outcome (state only). A purchase attempt: what it
    produced is adopted by Adopt actions beside it; `not_bought` of it never arrived within
    the provider's settle time. An interrupted release: the numbers still listed are `kept`
    (the release did not happen), the others are forgotten by Forget actions beside it."""

    kind: ClassVar[str] = "settle"
    entry_id: int = 0
    adopted: tuple[str, ...] = ()
    not_bought: int = 0
    age_seconds: int = 0
    #: what was in doubt: a "purchase", or a "release" whose numbers still listed are `kept`
    operation: str = "purchase"
    kept: tuple[str, ...] = ()


ACTION_TYPES: dict[str, type[Action]] = {
    cls.kind: cls
    for cls in (
        Purchase,
        Adopt,
        Move,
        Bind,
        SetLabels,
        Release,
        Forget,
        Settle,
        Quarantine,
        Restore,
    )
}


@dataclass(frozen=True)
class PendingNote:
    """A purchase still waiting, shown in the plan but not acted on: `pending` with the
    provider (regulated countries), or `unresolved`: an attempt whose outcome is unknown,
    which holds back that much of the shortfall until the listing settles it."""

    provider: str
    declaration: str
    count: int
    numbers: tuple[str, ...] = ()
    reason: str = "pending"
    age_seconds: int | None = None


@dataclass(frozen=True)
class QuarantineNote:
    """A number in quarantine that stays there in this plan: unbound, still costing
    `monthly`, released by an apply on or after `until`."""

    provider: str
    declaration: str
    number: str
    until: str
    monthly: Decimal | None = None
    currency: str = "USD"


@dataclass(frozen=True)
class GuardTrip:
    """A `safety:` limit the plan goes over: apply refuses it (exit 3) unless the limit is
    raised. `blocking` False: a notice that the guard could not check everything (prices
    unknown), shown but not refused. `message` names the guard, its limit and the plan's
    figure."""

    guard: str
    limit: str
    figure: str
    message: str
    provider: str | None = None
    blocking: bool = True
    #: the command-line limit that lets this run past a limit the configuration sets
    #: (`--max-releases 2`): shown, not refused; an apply of the saved plan needs it too
    overridden_by: str | None = None


@dataclass(frozen=True)
class Unmanaged:
    """A number the account owns that no declaration claims: reported, never touched."""

    provider: str
    number: str
    monthly: Decimal | None = None
    #: the currency of `monthly`, as the listing gives it
    currency: str = "USD"


@dataclass(frozen=True)
class Missing:
    """A managed number the provider no longer lists: drift, never silently replaced."""

    provider: str
    declaration: str
    number: str


@dataclass(frozen=True)
class Misplaced:
    """A number its declaration still holds though it no longer fits the declaration's
    `field`: its country, type or prefix changed after it bought (kept, never swapped), or
    its `quantity` was lowered under what a protected declaration holds (never released)."""

    provider: str
    declaration: str
    number: str
    field: str


class Digests(Mapping[str, str]):
    """Each provider's listing digest (`Account.fingerprint`), worked out the first time it
    is read and kept.

    Why: a digest sorts and serialises every listed number, about 0.2 s of CPU at 100,000,
    and only a saved plan, `-json` and apply's check against a saved plan read one. A plan
    shown and thrown away (every drift check from cron) never pays for it."""

    def __init__(self, digest_of: Mapping[str, Callable[[], str]]):
        self._digest_of = dict(digest_of)
        self._known: dict[str, str] = {}

    def __getitem__(self, provider: str) -> str:
        if provider not in self._known:
            self._known[provider] = self._digest_of[provider]()
        return self._known[provider]

    def __iter__(self) -> Iterator[str]:
        return iter(self._digest_of)

    def __len__(self) -> int:
        return len(self._digest_of)

    def __repr__(self) -> str:
        return f"Digests({sorted(self._digest_of)})"


@dataclass(frozen=True)
class Plan:
    """The planner's answer: what to change, what is waiting, what is left alone and why.

    `fingerprints` (per provider) and `state_fingerprint` tie the plan to the listing and state
    it was computed from, so applying a saved plan can refuse when the world moved on.
    """

    actions: tuple[Action, ...]
    pending: tuple[PendingNote, ...] = ()
    unmanaged: tuple[Unmanaged, ...] = ()
    warnings: tuple[str, ...] = ()
    #: managed numbers missing from the listing (drift a person must look at)
    missing: tuple[Missing, ...] = ()
    #: numbers held outside their declaration's country, type or prefix (see the warnings)
    misplaced: tuple[Misplaced, ...] = ()
    fingerprints: Mapping[str, str] = field(default_factory=dict)
    #: the state's digest as a plan file holds it, or how to work it out from the state the
    #: plan was made from (read it as `state_fingerprint`)
    state_digest: str | Callable[[], str] = field(default="", compare=False, repr=False)
    config_digest: str = ""
    config_path: str = ""
    targets: tuple[str, ...] = ()
    #: removed declarations the user chose to release and buy anew (`--replace`)
    replaced: tuple[str, ...] = ()
    #: declarations whose vanished numbers the user accepted as gone (`--accept-missing`)
    accepted: tuple[str, ...] = ()
    #: old name -> why its numbers cannot move where `moved_from` says: apply refuses
    unmovable: Mapping[str, str] = field(default_factory=dict)
    #: removed declarations whose numbers fit more than one new declaration: apply refuses
    #: until `moved_from` says where they go, or `--replace` says to release them
    ambiguous_moves: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    created_at: str = ""
    #: numbers in quarantine that stay there (see `Quarantine`)
    quarantined: tuple[QuarantineNote, ...] = ()
    #: the `safety:` limits this plan goes over, with the limits it was made with
    guards: tuple[GuardTrip, ...] = ()

    @cached_property
    def state_fingerprint(self) -> str:
        """The digest of the state this plan was made from (see `Digests` for why it is
        worked out only when asked)."""
        digest = self.state_digest
        return digest if isinstance(digest, str) else digest()

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    @property
    def changes(self) -> tuple[Action, ...]:
        """The actions that change something: all but the adoption of numbers the provider's
        own tags already give to their declaration (`Adopt.recognised`)."""
        return tuple(a for a in self.actions if not getattr(a, "recognised", False))

    @property
    def recognised(self) -> tuple[Action, ...]:
        """Numbers the provider already shows as declared while the state lacks them (their
        tag names their declaration) or lags (a bind that landed unrecorded): the next apply
        records them, and they are no change."""
        return tuple(a for a in self.actions if getattr(a, "recognised", False))

    @property
    def has_drift(self) -> bool:
        """Changes to apply, or drift to look at (`plan --detailed-exitcode` exits 2)."""
        return bool(self.changes or self.missing)

    def of_kind(self, kind: type[Action]) -> list[Action]:
        return [a for a in self.actions if isinstance(a, kind)]

    @property
    def releases(self) -> list[Release]:
        return [a for a in self.actions if isinstance(a, Release)]

    def cost(self) -> CostSummary:
        return CostSummary.of(self.actions)


@dataclass(frozen=True)
class CostSummary:
    """Money a plan adds or removes, per currency: one-off setup and the monthly change."""

    setup: Mapping[str, Decimal]
    monthly: Mapping[str, Decimal]
    unpriced: int = 0

    @classmethod
    def of(cls, actions: tuple[Action, ...] | list[Action]) -> CostSummary:
        setup: dict[str, Decimal] = {}
        monthly: dict[str, Decimal] = {}
        unpriced = 0
        for action in actions:
            if isinstance(action, Purchase):
                if action.price is None:
                    unpriced += action.count
                    continue
                cur = action.price.currency
                setup[cur] = setup.get(cur, Decimal(0)) + action.setup_cost()
                monthly[cur] = monthly.get(cur, Decimal(0)) + action.monthly_cost()
            elif isinstance(action, Release):
                if action.monthly is None:
                    unpriced += 1
                    continue
                monthly[action.currency] = monthly.get(action.currency, Decimal(0)) - action.monthly
        return cls(setup, monthly, unpriced)


# --------------------------------------------------------------------------- serialisation


def amount_text(value: Decimal) -> str:
    """A money amount as text for machines: cents at least, and no trailing zeros beyond
    them, whatever precision the provider wrote ("0.80000" -> "0.80", "0.0045" stays)."""
    cents = value.quantize(Decimal("0.01"))
    return str(cents) if cents == value else format(value.normalize(), "f")


def _to_json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return amount_text(value)
    if isinstance(value, Where | Price):
        return {f.name: _to_json(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple | list):
        return [_to_json(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _to_json(v) for k, v in value.items()}
    return value


def action_from_dict(data: Mapping[str, Any]) -> Action:
    """Rebuild an action from `Action.to_dict()` output (a saved plan file)."""
    cls = ACTION_TYPES[data["kind"]]
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        if f.name == "where" and value is not None:
            value = Where(**{**value, "capabilities": tuple(value.get("capabilities", ()))})
        elif f.name == "price" and value is not None:
            value = Price(Decimal(value["setup"]), Decimal(value["monthly"]), value["currency"])
        elif f.name == "monthly" and value is not None:
            value = Decimal(value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[f.name] = value
    return cls(**kwargs)


def _labels_text(labels: Mapping[str, str] | None) -> str:
    """Labels as fingerprints spell them (sorted JSON); most numbers have none, and a
    100,000-number fingerprint should not serialise an empty mapping 100,000 times."""
    return json.dumps(dict(labels), sort_keys=True) if labels else "{}"


def _digest(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
