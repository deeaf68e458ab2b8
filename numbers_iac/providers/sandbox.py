"""The sandbox provider: a simulated account kept in a JSON file on local disk.

It is the default for new users, the examples and the tests, so it behaves like a real
provider where it matters to them: listings come in pages and are checked for completeness,
stock runs out, unknown regions are refused with a hint, purchases in regulated countries
come back pending. The account itself is an `emulators.world.World`; this module only
translates between the provider contract and it, and saves the file after every mutation
so a killed process never loses a purchase the state store was told about.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import phonenumbers

from numbers_iac.emulators import world as w
from numbers_iac.emulators.world import World, WorldNumber
from numbers_iac.errors import (
    ConfigError,
    NumberUnavailableError,
    OutOfStockError,
    Problem,
    ProviderError,
    UnknownAppError,
    UnknownRegionError,
)
from numbers_iac.model import App, OwnedNumber, Price, ProviderConfig, Where
from numbers_iac.providers.base import (
    BatchOutcome,
    Capabilities,
    InventoryRow,
    Progress,
    Provider,
    PurchaseOutcome,
    PurchaseRequest,
    Quote,
    no_progress,
)

DEFAULT_PAGE_SIZE = 20
#: numbers bought between two saves of the account file: saving after every number would
#: rewrite a large file thousands of times; numbers bought but not yet saved have not been
#: reported to `on_bought` either, so a crash loses them on both sides alike.
PURCHASE_CHUNK = 20


class SandboxProvider(Provider):
    """A provider account simulated on local disk (`type: sandbox`)."""

    type_name: ClassVar[str] = "sandbox"
    capabilities: ClassVar[Capabilities] = Capabilities(
        native_labels=False,
        ownership_tag=True,
        apps=True,
        purchase_by_quantity=True,
        purchase_specific=True,
        pending_orders=True,
        list_page_size=DEFAULT_PAGE_SIZE,
        bind_batch_size=100,
        release_batch_size=100,
    )
    settings_keys: ClassVar[tuple[str, ...]] = ("apps", "data", "page_size", "regulated")

    def __init__(self, config: ProviderConfig, world: World | None = None):
        super().__init__(config)
        settings = config.settings
        self.page_size = _positive_int(config, "page_size", settings.get("page_size"))
        self.app_names = _names(config, "apps", settings.get("apps"))
        regulated = settings.get("regulated")
        self.regulated = None if regulated is None else _names(config, "regulated", regulated)
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
            (world or self.world).save(self.path)
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
    def purchase(
        self, request: PurchaseRequest, on_bought: Callable[[OwnedNumber], None]
    ) -> PurchaseOutcome:
        if request.app_id is not None and request.app_id not in self.world.apps:
            raise UnknownAppError(self.name, "purchase", _no_app(request.app_id))
        bought: list[OwnedNumber] = []

        def record(chunk: list[WorldNumber]) -> None:
            with self._mutation() as world:
                for owned in chunk:
                    if request.tag is not None:
                        world.update(owned.number, alias=request.tag)
            for owned in chunk:
                number = _owned_number(owned)
                bought.append(number)
                on_bought(number)

        error = self._buy_pinned(request, record)
        remaining = request.count - len(request.pinned[: request.count])
        if remaining > 0 and request.where is not None:
            error = (
                self._buy_from(
                    request.where, remaining, request.app_id, record, request.should_stop
                )
                or error
            )
        return PurchaseOutcome(bought=tuple(bought), error=error)

    def _buy_pinned(
        self, request: PurchaseRequest, record: Callable[[list[WorldNumber]], None]
    ) -> ProviderError | None:
        unavailable: list[str] = []
        for number in request.pinned[: request.count]:
            try:
                owned = self.world.buy(number, app_id=request.app_id)
            except w.NotForSale as exc:
                unavailable.append(str(exc))
                continue
            record([owned])
        if not unavailable:
            return None
        return NumberUnavailableError(self.name, "purchase", "; ".join(unavailable))

    def _buy_from(
        self,
        where: Where,
        count: int,
        app_id: str | None,
        record: Callable[[list[WorldNumber]], None],
        should_stop: Callable[[], bool] = lambda: False,
    ) -> ProviderError | None:
        groups = self._groups(where, "purchase")
        prefix = _national_prefix(where)
        narrower = prefix and any(len(prefix) > len(g.prefix) for g in groups)
        total = 0
        while total < count and not should_stop():
            want = min(PURCHASE_CHUNK, count - total)
            if narrower:
                chunk = self._buy_matching(where, prefix, want, app_id)
            else:
                chunk = self.world.buy_from_groups(groups, want, app_id, allow_partial=True)
            if chunk:
                record(chunk)
            total += len(chunk)
            if len(chunk) < want:
                break
        if total >= count or should_stop():
            return None
        return OutOfStockError(
            self.name,
            "purchase",
            f"asked for {count} numbers in {where.describe()}, only {total} were available; "
            f"bought {total}",
        )

    def _buy_matching(self, where: Where, prefix: str, count: int, app_id: str | None):
        """Buy numbers under a prefix longer than any group's (e.g. 4155 within 415)."""
        found, _ = self.world.search(
            where.country,
            where.number_type,
            where.region,
            prefix,
            where.capabilities,
            limit=count,
        )
        bought = []
        for available in found:
            try:
                bought.append(self.world.buy(available.number, app_id=app_id))
            except w.NotForSale:
                continue
        return bought

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
        try:
            known = self.world.find_groups(country, where.number_type)
        except w.UnknownRegion:
            known = []
        regions = sorted({g.region for g in known if g.region})
        hint = f"; regions for sale: {', '.join(regions)}" if regions else ""
        return (
            f"{exc}{hint}. Run `numbers-iac inventory {self.name} --country {country}` "
            "to see what is for sale"
        )


# --------------------------------------------------------------------------- helpers


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
    )


def _price(group: w.NumberGroup) -> Price:
    return Price(Decimal(group.setup), Decimal(group.monthly), group.currency)


def _no_app(app_id: str) -> str:
    return f"app {app_id} does not exist on the account"


def _national_prefix(where: Where) -> str | None:
    """The declared prefix as national significant digits: "+33 3 22", "0322" and "322"
    all mean the same block in France."""
    if not where.prefix:
        return None
    text = where.prefix.strip()
    digits = "".join(ch for ch in text if ch.isdigit())
    if text.startswith("+"):
        calling_code = str(phonenumbers.country_code_for_region(where.country.upper()))
        return digits.removeprefix(calling_code)
    return digits.lstrip("0") if digits.startswith("0") else digits


def _problem(config: ProviderConfig, key: str, message: str) -> ConfigError:
    source = config.source
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


def _positive_int(config: ProviderConfig, key: str, value: Any) -> int:
    if value is None:
        return DEFAULT_PAGE_SIZE
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _problem(config, key, f"must be a positive whole number, not {value!r}")
    return value


def _names(config: ProviderConfig, key: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise _problem(config, key, "must be a list of names")
    return tuple(value)


__all__ = ["SandboxProvider"]
