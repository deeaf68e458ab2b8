"""The sandbox provider: a simulated account kept in a JSON file on local disk.

It is the default for new users, the examples and the tests, so it behaves like a real
provider where it matters to them: listings come in pages and are checked for completeness,
stock runs out, unknown regions are refused with a hint, purchases in regulated countries
come back pending. The account itself is a `simulation.World`; this module only
translates between the provider contract and it, and saves the file after every mutation
so a killed process never loses a purchase the state store was told about.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

from numbers_iac.errors import (
    NumberUnavailableError,
    OfferExpiredError,
    ProviderError,
    UnknownAppError,
    UnknownRegionError,
)
from numbers_iac.model import (
    QUANTITY,
    RESERVE,
    SPECIFIC,
    Account,
    App,
    OwnedNumber,
    Price,
    ProviderConfig,
    Where,
)
from numbers_iac.phones import prefix_digits
from numbers_iac.providers.base import (
    BatchOutcome,
    Candidate,
    Capabilities,
    InventoryRow,
    Offer,
    Progress,
    Provider,
    PurchaseRequest,
    Quote,
    for_sale_hint,
    no_progress,
    setting_problem,
)
from numbers_iac.simulation import world as w
from numbers_iac.simulation.world import World, WorldNumber

DEFAULT_PAGE_SIZE = 20
DEFAULT_RESERVATION_TTL = 600.0
#: the purchase protocol's three shapes, chosen by the `purchase_mode` setting, so each is
#: exercised before the real providers that sell that way use it
MODES = {
    SPECIFIC: (SPECIFIC,),
    QUANTITY: (QUANTITY, SPECIFIC),
    RESERVE: (RESERVE, SPECIFIC),
}
#: crash tests: the process kills itself (SIGKILL) right after its N-th saved mutation, the
#: moment a real provider has acted and its caller has not heard back yet
KILL_AFTER_ENV = "NUMBERS_IAC_SANDBOX_KILL_AFTER"


class SandboxProvider(Provider):
    """A provider account simulated on local disk (`type: sandbox`)."""

    type_name: ClassVar[str] = "sandbox"
    capabilities: ClassVar[Capabilities] = Capabilities(
        native_labels=False,
        ownership_tag=True,
        apps=True,
        purchase_modes=(SPECIFIC,),
        pending_orders=True,
        short_commit_final=True,  # the simulated account sells synchronously
        list_page_size=DEFAULT_PAGE_SIZE,
        bind_batch_size=100,
        release_batch_size=100,
    )
    settings_schema: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        "apps": {
            "description": "the apps the simulated account has, by name.",
            "type": "array",
            "items": {"type": "string", "minLength": 1},
            "uniqueItems": True,
        },
        "data": {
            "description": "the simulated account's file (default .numbers-iac/sandbox-NAME.json next to the config).",
            "type": "string",
            "minLength": 1,
        },
        "page_size": {
            "description": "numbers per listing page (like a real provider's page cap).",
            "type": "integer",
            "minimum": 1,
            "maximum": 1000,
        },
        "regulated": {
            "description": "countries (ISO alpha-2) whose purchases come back pending, as in regulated countries.",
            "type": "array",
            "items": {"type": "string", "pattern": "^[A-Za-z]{2}$"},
            "uniqueItems": True,
        },
        "purchase_mode": {
            "description": "how the simulated account sells, to try each shape of the purchase protocol: specific (search, then buy each number; the default), quantity (one call buys N numbers in a place) or reserve (reserve numbers, then buy or cancel them).",
            "enum": list(MODES),
        },
        "reservation_ttl": {
            "description": f"seconds a reservation holds its numbers when purchase_mode is reserve (default {DEFAULT_RESERVATION_TTL:g}).",
            "type": "number",
            "minimum": 0,
        },
    }
    settings_keys: ClassVar[tuple[str, ...]] = tuple(settings_schema)

    def __init__(self, config: ProviderConfig, world: World | None = None):
        super().__init__(config)
        settings = config.settings
        self.page_size = _positive_int(config, "page_size", settings.get("page_size"))
        self.app_names = _names(config, "apps", settings.get("apps"))
        regulated = settings.get("regulated")
        self.regulated = None if regulated is None else _names(config, "regulated", regulated)
        self.purchase_mode = settings.get("purchase_mode", SPECIFIC)
        if self.purchase_mode not in MODES:
            raise setting_problem(
                config,
                "purchase_mode",
                f"must be one of {', '.join(MODES)}, not {self.purchase_mode!r}",
            )
        self.capabilities = replace(
            type(self).capabilities, purchase_modes=MODES[self.purchase_mode]
        )
        ttl = settings.get("reservation_ttl", DEFAULT_RESERVATION_TTL)
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or ttl < 0:
            raise setting_problem(
                config, "reservation_ttl", f"must be seconds (a number), not {ttl!r}"
            )
        self.reservation_ttl = float(ttl)
        self.path = self._data_path(config, world)
        self._world = world
        self._prepared = False
        self._unsaved = world is not None

    # ----------------------------------------------------------------- the account
    @staticmethod
    def _data_path(config: ProviderConfig, world: World | None) -> Path | None:
        data = config.settings.get("data")
        if data is None:
            if world is not None:
                return None
            data = Path(".numbers-iac") / f"sandbox-{config.name}.json"
        return Path(config.base_dir) / Path(str(data)).expanduser()

    @property
    def world(self) -> World:
        """The account, loaded (or created from the built-in catalogue) on first use."""
        if self._world is None:
            self._world = self._open_world()
        if not self._prepared:
            self._prepared = True
            self._apply_settings(self._world)
        return self._world

    def _open_world(self) -> World:
        assert self.path is not None
        if not self.path.exists():
            self._unsaved = True
            return World.builtin()
        try:
            return World.load(self.path)
        except w.WorldError as exc:
            raise ProviderError(self.name, "open the sandbox account", str(exc)) from exc
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ProviderError(
                self.name,
                "open the sandbox account",
                f"{self.path} is not a sandbox account file ({type(exc).__name__}: {exc}); "
                "move it away to start a fresh account",
            ) from exc

    def _apply_settings(self, world: World) -> None:
        """Create the apps the settings name and mark regulated countries; save if changed."""
        for name in self.app_names:
            if not world.app_by_name(name):
                world.add_app(name)
                self._unsaved = True
        if self.regulated is not None:
            countries = {c.upper() for c in self.regulated}
            for group in world.groups:
                if group.regulated != (group.country in countries):
                    group.regulated = group.country in countries
                    self._unsaved = True
        if self._unsaved:
            self._save(world)

    def _save(self, world: World | None = None) -> None:
        if self.path is None:
            return
        try:
            # no fsync: a purchase must survive a killed process (the crash tests kill it
            # after each save), and the kernel keeps the file for that; an fsync per bought
            # number made a 1,000-number apply wait on the disk 1,000 times
            (world or self.world).save(self.path, durable=False)
            self._unsaved = False
        except OSError as exc:
            raise ProviderError(
                self.name, "save the sandbox account", f"{self.path}: {exc}"
            ) from exc

    @contextmanager
    def _mutation(self) -> Iterator[World]:
        """Run a mutation and persist the account even when it fails half way."""
        world = self.world
        try:
            yield world
        finally:
            self._save(world)
            _count_mutation()

    # ----------------------------------------------------------------- reads
    def list_numbers(self, progress: Progress = no_progress) -> tuple[OwnedNumber, ...]:
        seen: dict[str, OwnedNumber] = {}
        offset, total = 0, None
        while total is None or offset < total:
            page, total = self.world.owned(offset, limit=self.page_size)
            if not page:
                break
            for owned in page:
                seen.setdefault(owned.number, _owned_number(owned))
            offset += len(page)
            progress(len(seen), total)
        if total is not None and len(seen) < total:
            raise ProviderError(
                self.name,
                "list numbers",
                f"the listing returned {len(seen)} distinct numbers but the account reports "
                f"{total}; refusing to plan from an incomplete listing",
            )
        return tuple(seen.values())

    def list_apps(self) -> tuple[App, ...]:
        return tuple(App(app_id, name) for app_id, name in sorted(self.world.apps.items()))

    def account(self, progress: Progress = no_progress) -> Account:
        """One read after the other: nothing to overlap in process, and the simulated
        account is opened once, by one thread."""
        return Account(self.name, self.list_numbers(progress), self.list_apps())

    def quote(self, where: Where, count: int) -> Quote:
        groups = self._groups(where, "quote")
        return Quote(_price(groups[0]), available=sum(max(g.stock, 0) for g in groups))

    def quote_numbers(self, numbers: Sequence[str]) -> Quote:
        """The dearest price among the numbers, so price x count never underestimates."""
        groups = []
        for number in numbers:
            try:
                groups.append(self.world.group_for_sale(number))
            except w.NotForSale as exc:
                raise NumberUnavailableError(self.name, "quote", str(exc)) from exc
        if not groups:
            raise NumberUnavailableError(self.name, "quote", "no numbers to quote")
        setup = max(g.setup for g in groups)
        monthly = max(g.monthly for g in groups)
        return Quote(Price(setup, monthly, groups[0].currency), available=len(groups))

    def inventory(self, country: str, number_type: str | None = None) -> list[InventoryRow]:
        try:
            groups = self.world.find_groups(country, number_type)
        except w.UnknownRegion:
            return []
        return [
            InventoryRow(
                country=g.country,
                number_type=g.number_type,
                region=g.region,
                prefix=g.prefix,
                available=max(g.stock, 0),
                price=_price(g),
                capabilities=tuple(g.capabilities),
            )
            for g in groups
        ]

    # ----------------------------------------------------------------- mutations
    # ----------------------------------------------------------------- the purchase protocol
    def offer(self, request: PurchaseRequest, count: int, exclude: frozenset[str]) -> Offer:
        self._check_app(request.app_id)
        if request.pinned or request.where is None:
            return super().offer(request, count, exclude)
        where = request.where
        groups = self._groups(where, "purchase")
        if self.purchase_mode == QUANTITY:
            stock = sum(max(g.stock, 0) for g in groups)
            return Offer(request, QUANTITY, min(count, stock), price=_price(groups[0]))
        found = self._search(where, count, exclude)
        candidates = tuple(
            Candidate(a.number, a.number.lstrip("+"), _price(a.group)) for a in found
        )
        if self.purchase_mode != RESERVE or not candidates:
            return Offer(request, SPECIFIC, len(candidates), candidates)
        now = time.time()
        with self._mutation() as world:
            handle = world.reserve([c.number for c in candidates], self.reservation_ttl, now)
        expires = datetime.fromtimestamp(now + self.reservation_ttl, UTC)
        return Offer(
            request,
            RESERVE,
            len(candidates),
            candidates,
            handle=handle,
            expires_at=expires.isoformat(timespec="seconds"),
        )

    def _search(self, where: Where, count: int, exclude: frozenset[str]) -> list:
        """Up to `count` numbers for sale at `where`, none of `exclude`."""
        found, _ = self.world.search(
            where.country,
            where.number_type,
            where.region,
            _national_prefix(where),
            where.capabilities,
            limit=count + len(exclude),
        )
        return [a for a in found if a.number not in exclude][:count]

    def commit(self, offer: Offer) -> tuple[OwnedNumber, ...]:
        """Buy and write the ownership tag in one save of the account file: whatever a
        crash interrupts, the number and its tag are on disk together or not at all."""
        request = offer.request
        with self._mutation() as world:
            try:
                if offer.mode == QUANTITY:
                    bought = self._buy_blind(request, offer.count)
                elif offer.mode == RESERVE:
                    assert offer.handle is not None
                    bought = world.buy_reserved(offer.handle, time.time(), request.app_id)
                else:
                    (candidate,) = offer.candidates
                    bought = [world.buy(candidate.number, app_id=request.app_id)]
            except w.ReservationExpired as exc:
                raise OfferExpiredError(self.name, "buy the reservation", str(exc)) from None
            except w.NotForSale as exc:
                raise NumberUnavailableError(self.name, "purchase", str(exc)) from None
            except w.UnknownApp as exc:
                raise UnknownAppError(self.name, "purchase", str(exc)) from None
            if request.tag is not None:
                for owned in bought:
                    world.update(owned.number, alias=request.tag)
        return tuple(_owned_number(owned) for owned in bought)

    def abort(self, offer: Offer) -> None:
        if offer.handle is None:
            return
        with self._mutation() as world:
            world.cancel_reservation(offer.handle)

    def _buy_blind(self, request: PurchaseRequest, count: int) -> list[WorldNumber]:
        """A quantity purchase: whatever the groups sell next, up to `count`."""
        where = request.where
        assert where is not None
        groups = self._groups(where, "purchase")
        prefix = _national_prefix(where)
        if prefix and any(len(prefix) > len(g.prefix) for g in groups):
            found = self._search(where, count, frozenset())
            return [self.world.buy(a.number, app_id=request.app_id) for a in found]
        return self.world.buy_from_groups(groups, count, request.app_id, allow_partial=True)

    def _check_app(self, app_id: str | None) -> None:
        if app_id is not None and app_id not in self.world.apps:
            raise UnknownAppError(self.name, "purchase", _no_app(app_id))

    def bind(self, numbers: Sequence[OwnedNumber], app_id: str | None) -> BatchOutcome:
        if app_id is not None and app_id not in self.world.apps:
            reason = _no_app(app_id)
            return BatchOutcome(failed={n.number: reason for n in numbers})
        return self._each(numbers, lambda world, n: world.update(n.number, app_id=app_id))

    def set_labels(
        self, changes: Sequence[tuple[OwnedNumber, str | None, Mapping[str, str]]]
    ) -> BatchOutcome:
        tags = {n.number: tag for n, tag, _ in changes}
        return self._each(
            [n for n, _, _ in changes],
            lambda world, n: world.update(n.number, alias=tags[n.number]),
        )

    def release(self, numbers: Sequence[OwnedNumber]) -> BatchOutcome:
        def release_one(world: World, number: OwnedNumber) -> None:
            # a number the account no longer owns is already where release wants it
            with suppress(w.NotOwned):
                world.release(number.number)

        return self._each(numbers, release_one)

    def _each(
        self,
        numbers: Sequence[OwnedNumber],
        change: Callable[[World, OwnedNumber], Any],
    ) -> BatchOutcome:
        done: list[str] = []
        failed: dict[str, str] = {}
        with self._mutation() as world:
            for number in numbers:
                try:
                    change(world, number)
                except w.WorldError as exc:
                    failed[number.number] = str(exc)
                else:
                    done.append(number.number)
        return BatchOutcome(done=tuple(done), failed=failed)

    # ----------------------------------------------------------------- helpers
    def _groups(self, where: Where, operation: str) -> list[w.NumberGroup]:
        try:
            return self.world.find_groups(
                where.country,
                where.number_type,
                where.region,
                _national_prefix(where),
                where.capabilities,
            )
        except w.UnknownRegion as exc:
            raise UnknownRegionError(self.name, operation, self._no_region(where, exc)) from exc

    def _no_region(self, where: Where, exc: w.UnknownRegion) -> str:
        country = where.country.upper()
        hint = for_sale_hint(where, self.inventory(country, where.number_type))
        return (
            f"{exc}{f'. {hint}' if hint else ''}. Run `numbers-iac inventory "
            f"{self.name} --country {country}` to see what is for sale"
        )


# --------------------------------------------------------------------------- helpers

_mutations_saved = [0]


def _count_mutation() -> None:
    """The crash-test hook (see KILL_AFTER_ENV): a no-op unless the variable is set."""
    limit = os.environ.get(KILL_AFTER_ENV)
    if not limit:
        return
    _mutations_saved[0] += 1
    if _mutations_saved[0] >= int(limit):
        os.kill(os.getpid(), signal.SIGKILL)


def _owned_number(owned: WorldNumber) -> OwnedNumber:
    return OwnedNumber(
        number=owned.number,
        provider_id=owned.provider_id,
        country=owned.country,
        number_type=owned.number_type,
        region=owned.region,
        app_id=owned.app_id,
        tag=owned.alias,
        labels=None,
        status=owned.status,
        monthly=owned.monthly,
        currency=owned.currency,
        acquired_on=owned.added_on or None,
    )


def _price(group: w.NumberGroup) -> Price:
    return Price(Decimal(group.setup), Decimal(group.monthly), group.currency)


def _no_app(app_id: str) -> str:
    return f"app {app_id} does not exist on the account"


def _national_prefix(where: Where) -> str | None:
    """The declared prefix as the catalogue writes a block: "+33 3 22", "0322" and "322"
    all mean the same block in France, and Italy's "06" keeps its 0."""
    return prefix_digits(where.prefix, where.country) if where.prefix else None


def _positive_int(config: ProviderConfig, key: str, value: Any) -> int:
    if value is None:
        return DEFAULT_PAGE_SIZE
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise setting_problem(config, key, f"must be a positive whole number, not {value!r}")
    return value


def _names(config: ProviderConfig, key: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise setting_problem(config, key, "must be a list of names")
    return tuple(value)


__all__ = ["SandboxProvider"]
