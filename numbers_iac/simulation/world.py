"""A simulated provider account: inventory with stock and prices, owned numbers, apps, a log.

Why it exists: every test, example and first-time user needs an account that behaves like a
real one (stock runs out, a region can be unknown, a number can be taken between search and
buy, purchases in regulated countries stay pending) without credentials or a network. The
sandbox provider persists one World to a JSON file; every provider emulator (a WSGI app
speaking a provider's wire format) serves one World, so the adapters are tested against the
same behaviour the sandbox gives users.

Numbers for sale are not stored: each `NumberGroup` (a block such as "+33 3 22 ...") hands
out candidates lazily, in a fixed order, from a cursor, so a group with a stock of 100,000
costs nothing until numbers are asked for. Every number handed out is valid for its country
and of its group's type according to `phonenumbers`.

Standard library + phonenumbers only. Errors are `WorldError` subclasses: adapters map them
to `numbers_iac.errors` types, emulators to the provider's HTTP error bodies.

Agreed API (the sandbox provider and the emulators rely on exactly this):

    class WorldError(Exception)
    class UnknownRegion(WorldError)      # no group matches country/type/region/prefix
    class OutOfStock(WorldError)         # fewer numbers for sale than asked (has .available)
    class NotForSale(WorldError)         # a specific number is not available (taken/owned/invalid)
    class NotOwned(WorldError)           # the account does not own that number
    class UnknownApp(WorldError)

    NumberGroup, AvailableNumber, WorldNumber: dataclasses (fields below)

    class World:
        groups: list[NumberGroup]; numbers: dict[str, WorldNumber]; apps: dict[str, str]
        log: list[tuple[str, str]]       # ("buy"|"release"|"bind"|"update", number)
        builtin(seed=0); from_seed(data); load(path); save(path); to_dict(); from_dict(data)
        find_groups(country, number_type=None, region=None, prefix=None, capabilities=())
        search(country, number_type=None, region=None, prefix=None, capabilities=(),
               limit=20, offset=0) -> (list[AvailableNumber], total)
        buy(number, app_id=None); buy_from_groups(groups, quantity, app_id=None,
        allow_partial=False); release(number); update(number, *, app_id=, alias=, labels=)
        owned(offset=0, limit=None, **filters) -> (list[WorldNumber], total)
        add_app(name, app_id=None); app_by_name(name); take(number); set_stock(group_id, n)
        activate(number); price_of(number)
"""

from __future__ import annotations

import bisect
import contextlib
import datetime
import json
import os
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

import phonenumbers
from phonenumbers import PhoneNumberType

#: 2: numbers and log as rows, one a line (format 1 files, one object per number, still load)
FORMAT_VERSION = 2
ACTIVE = "active"
PENDING = "pending"

#: phonenumbers types a number may have to be sold as each of our types. US-style plans
#: cannot tell fixed from mobile, hence FIXED_LINE_OR_MOBILE for both.
TYPE_MATCHES: dict[str, tuple[int, ...]] = {
    "local": (PhoneNumberType.FIXED_LINE, PhoneNumberType.FIXED_LINE_OR_MOBILE),
    "national": (PhoneNumberType.UAN, PhoneNumberType.VOIP, PhoneNumberType.SHARED_COST),
    "mobile": (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE),
    "tollfree": (PhoneNumberType.TOLL_FREE,),
}

_FIRST_APP_ID = 20_000_000_000_000_000
_SEED_CURSOR_STEP = 1000
#: groups smaller than this are left alone by `from_seed({"owned": N})`, so the small-stock
#: groups that out-of-stock tests rely on keep their stock.
_SEED_MIN_STOCK = 100


class WorldError(Exception):
    """Base of every error the simulated account raises. The message is for a person."""


#: what a damaged account file raises while its rows become numbers (a row of the wrong
#: length, a null, a price that is not a number): said as a WorldError naming the file
_NOT_AN_ACCOUNT = (KeyError, TypeError, ValueError, ArithmeticError, AttributeError)


class UnknownRegion(WorldError):
    """No number group matches the country, type, region, prefix and capabilities asked."""


class OutOfStock(WorldError):
    """Fewer numbers are for sale than were asked for."""

    def __init__(self, message: str, available: int):
        super().__init__(message)
        self.available = available


class NotForSale(WorldError):
    """A specific number cannot be bought: taken, owned, invalid or out of stock."""


class ReservationExpired(WorldError):
    """A reservation lapsed (or never existed): nothing was bought."""


class NotOwned(WorldError):
    """The account does not own that number."""


class UnknownApp(WorldError):
    """The account has no app with that id."""


# --------------------------------------------------------------------------- data


@dataclass
class NumberGroup:
    """A block of numbers for sale: numbers whose national significant number starts with
    `prefix`, in `country`, of `number_type`; `stock` of them remain for sale."""

    group_id: str
    country: str
    number_type: str
    region: str | None
    prefix: str
    stock: int
    setup: Decimal
    monthly: Decimal
    currency: str = "USD"
    capabilities: tuple[str, ...] = ("voice", "sms")
    regulated: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "group_id": self.group_id,
            "country": self.country,
            "number_type": self.number_type,
            "region": self.region,
            "prefix": self.prefix,
            "stock": self.stock,
            "setup": str(self.setup),
            "monthly": str(self.monthly),
            "currency": self.currency,
            "capabilities": list(self.capabilities),
            "regulated": self.regulated,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NumberGroup:
        return cls(
            group_id=str(data["group_id"]),
            country=str(data["country"]).upper(),
            number_type=str(data["number_type"]),
            region=data.get("region"),
            prefix=str(data["prefix"]),
            stock=int(data["stock"]),
            setup=Decimal(str(data["setup"])),
            monthly=Decimal(str(data["monthly"])),
            currency=str(data.get("currency", "USD")),
            capabilities=tuple(data.get("capabilities", ("voice", "sms"))),
            regulated=bool(data.get("regulated", False)),
        )


@dataclass
class AvailableNumber:
    """A specific number for sale, and the group that sells it."""

    number: str
    group: NumberGroup


@dataclass(slots=True)
class WorldNumber:
    """A number the account owns. Read-only for callers: change it through `World.update`."""

    number: str
    provider_id: str
    country: str
    number_type: str
    region: str | None
    app_id: str | None
    alias: str | None
    labels: dict[str, str]
    status: str
    monthly: Decimal
    setup: Decimal
    currency: str
    capabilities: tuple[str, ...]
    added_on: str
    group_id: str | None

    def to_dict(self) -> dict[str, Any]:
        return dict(zip(NUMBER_FIELDS, self.to_row(), strict=True))

    def to_row(self) -> list[Any]:
        """`to_dict`'s values in `NUMBER_FIELDS` order: how the account file stores it."""
        return [
            self.number,
            self.provider_id,
            self.country,
            self.number_type,
            self.region,
            self.app_id,
            self.alias,
            dict(self.labels),
            self.status,
            str(self.monthly),
            str(self.setup),
            self.currency,
            list(self.capabilities),
            self.added_on,
            self.group_id,
        ]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], shared: SharedValues | None = None) -> WorldNumber:
        """`shared`: one per account, so that numbers alike hold one copy of each value."""
        share = shared or SharedValues()
        return cls(
            number=data["number"],
            provider_id=data["provider_id"],
            country=share.text(data["country"]),
            number_type=share.text(data["number_type"]),
            region=share.text(data.get("region")),
            app_id=share.text(data.get("app_id")),
            alias=share.text(data.get("alias")),
            labels=dict(data.get("labels") or {}),
            status=share.text(data.get("status", ACTIVE)),
            monthly=share.price(data["monthly"]),
            setup=share.price(data["setup"]),
            currency=share.text(data.get("currency", "USD")),
            capabilities=share.capabilities(data.get("capabilities", ())),
            added_on=share.text(data.get("added_on", "")),
            group_id=share.text(data.get("group_id")),
        )


#: a `WorldNumber` row's columns, in `to_row` order (the account file names them once)
NUMBER_FIELDS: tuple[str, ...] = tuple(WorldNumber.__dataclass_fields__)


class SharedValues:
    """One copy of each immutable value that repeats from number to number (country, region,
    prices, alias, date...). A JSON parser makes a new string per occurrence: at 100,000
    numbers sharing them took the loaded account from about 130 MB to about 40 MB."""

    def __init__(self) -> None:
        self._values: dict[Any, Any] = {}
        self._prices: dict[str, Decimal] = {}

    def text(self, value: Any) -> Any:
        return self._values.setdefault(value, value) if isinstance(value, str) else value

    def price(self, value: Any) -> Decimal:
        text = str(value)
        price = self._prices.get(text)
        if price is None:
            price = self._prices[text] = Decimal(text)
        return price

    def capabilities(self, value: Any) -> tuple[str, ...]:
        capabilities = tuple(value)
        shared = self._values.get(capabilities)
        if shared is None:
            shared = self._values[capabilities] = tuple(self.text(c) for c in capabilities)
        return shared


# --------------------------------------------------------------------------- generation


@dataclass(frozen=True)
class _Plan:
    """How candidates of one prefix are spelt: `prefix` + a zero-padded sequence number."""

    country: str
    calling_code: int
    prefix: str
    length: int
    types: tuple[int, ...]

    @property
    def suffix_len(self) -> int:
        return max(self.length - len(self.prefix), 0)

    def nsn(self, seq: int) -> str:
        return self.prefix + str(seq).zfill(self.suffix_len) if self.suffix_len else self.prefix

    def is_valid(self, nsn: str) -> bool:
        parsed = _phone(self.calling_code, nsn)
        return (
            phonenumbers.is_valid_number_for_region(parsed, self.country)
            and phonenumbers.number_type(parsed) in self.types
        )

    def e164(self, nsn: str) -> str:
        return f"+{self.calling_code}{nsn}"


def _phone(calling_code: int, nsn: str) -> phonenumbers.PhoneNumber:
    parsed = phonenumbers.PhoneNumber(country_code=calling_code, national_number=int(nsn))
    zeros = len(nsn) - len(nsn.lstrip("0"))
    if zeros:
        parsed.italian_leading_zero = True
        parsed.number_of_leading_zeros = zeros
    return parsed


def _nsn_length(country: str, number_type: str, prefix: str) -> int | None:
    """The national number length for a type, learnt from phonenumbers' example numbers.

    A type can span several phonenumbers types of different lengths (AU "national": 13xx
    shared-cost, 14xx VoIP), so the example sharing most leading digits with the prefix wins.
    """
    examples = []
    for number_type_code in TYPE_MATCHES.get(number_type, ()):
        example = phonenumbers.example_number_for_type(country, number_type_code)
        if example is not None:
            examples.append(phonenumbers.national_significant_number(example))
    if not examples:
        return None
    return len(max(examples, key=lambda example: _common_length(example, prefix)))


def _common_length(left: str, right: str) -> int:
    return len(os.path.commonprefix([left, right]))


class _Sequence:
    """The valid candidates of one plan from `origin` on, generated on demand and cached.

    Runs of invalid candidates (US exchanges starting 0 or 1: two million numbers) are
    skipped a block at a time: when a block aligned on a power of ten starts, ends and is
    sampled invalid, all of it is skipped. That can pass over a few valid numbers, never
    hand out an invalid one, and keeps the walk deterministic.
    """

    def __init__(self, plan: _Plan, origin: int):
        self.plan = plan
        self.seqs: list[int] = []
        self.next = origin
        self.end = 10**plan.suffix_len if plan.length else 0

    def get(self, index: int) -> int | None:
        while len(self.seqs) <= index and self.next < self.end:
            self._advance()
        return self.seqs[index] if index < len(self.seqs) else None

    def index_from(self, seq: int) -> int:
        """Index of the first cached valid candidate at or after `seq`."""
        if seq > self.next:
            self.next = min(seq, self.end)
        return bisect.bisect_left(self.seqs, seq)

    def _advance(self) -> None:
        seq = self.next
        while seq < self.end:
            if self.plan.is_valid(self.plan.nsn(seq)):
                self.seqs.append(seq)
                self.next = seq + 1
                return
            seq = self._skip_invalid(seq)
        self.next = self.end

    def _skip_invalid(self, seq: int) -> int:
        for power in range(self.plan.suffix_len - 1, 0, -1):
            size = 10**power
            if seq % size or seq + size > self.end:
                continue
            samples = (seq + size - 1, seq + size // 2, seq + size // 3)
            if not any(self.plan.is_valid(self.plan.nsn(s)) for s in samples):
                return seq + size
        return seq + 1


# --------------------------------------------------------------------------- world

_UNSET: Any = object()
_OWNED_FILTERS = ("alias", "number_type", "startswith", "app_id")


class World:
    """One simulated provider account. Not thread-safe: the WSGI emulators serialise calls."""

    def __init__(
        self,
        groups: Sequence[NumberGroup] = (),
        numbers: Mapping[str, WorldNumber] | None = None,
        apps: Mapping[str, str] | None = None,
        log: Sequence[tuple[str, str]] = (),
        *,
        seed: int = 0,
    ):
        self.groups: list[NumberGroup] = list(groups)
        self.numbers: dict[str, WorldNumber] = dict(numbers or {})
        self.apps: dict[str, str] = dict(apps or {})
        self.log: list[tuple[str, str]] = [tuple(entry) for entry in log]  # type: ignore[misc]
        self.seed = seed
        self.taken: set[str] = set()
        #: reservation token -> {"numbers": [...], "expires_at": epoch seconds}
        self.reservations: dict[str, dict[str, Any]] = {}
        self.cursors: dict[str, int] = {g.group_id: seed * _SEED_CURSOR_STEP for g in self.groups}
        self._next_app = 1
        self._version = 0
        self._sorted_keys: list[str] | None = None
        self._filtered: dict[tuple, list[str]] = {}
        self._sequences: dict[tuple[str, str], _Sequence] = {}
        self._plans: dict[tuple[str, str], _Plan | None] = {}
        self._search_resume: dict[tuple[str, str, int], int] = {}

    # ----------------------------------------------------------------- construction
    @classmethod
    def builtin(cls, seed: int = 0) -> World:
        """A fresh account over the built-in catalogue (US, GB, FR, DE, AU), owning nothing."""
        text = resources.files("numbers_iac").joinpath("data/catalogue.json").read_text()
        groups = [NumberGroup.from_dict(g) for g in json.loads(text)["groups"]]
        return cls(groups, seed=seed)

    @classmethod
    def from_seed(cls, data: Mapping[str, Any]) -> World:
        """An account described briefly, for tests and examples.

        `{"apps": [names], "owned": N | [{"number", "alias", "app", "labels"}],
        "catalogue": "builtin" | [group dicts], "regulated": [countries], "seed": 0,
        "taken": [numbers]}`. `owned: N` buys N numbers round-robin over the groups (small
        groups excepted). The log is emptied afterwards, so it shows only what came later.
        """
        seed = int(data.get("seed", 0))
        catalogue = data.get("catalogue", "builtin")
        if catalogue == "builtin":
            world = cls.builtin(seed)
        else:
            world = cls([NumberGroup.from_dict(g) for g in catalogue], seed=seed)
        for name in data.get("apps", ()):
            if not world.app_by_name(name):
                world.add_app(name)
        owned = data.get("owned", 0)
        if isinstance(owned, int):
            world._seed_owned(owned)
        else:
            for entry in owned:
                world._seed_number(entry)
        for number in data.get("taken", ()):
            world.take(number)
        regulated = {c.upper() for c in data.get("regulated", ())}
        for group in world.groups:
            group.regulated = group.regulated or group.country in regulated
        world.log.clear()
        return world

    def _seed_owned(self, count: int) -> None:
        groups = [g for g in self.groups if g.stock >= _SEED_MIN_STOCK]
        bought = 0
        while bought < count:
            progressed = False
            for group in groups:
                if bought == count:
                    break
                if group.stock > _SEED_MIN_STOCK // 2:
                    bought += len(self.buy_from_groups([group], 1, allow_partial=True))
                    progressed = True
            if not progressed:
                raise OutOfStock(f"the catalogue cannot seed {count} owned numbers", bought)

    def _seed_number(self, entry: Mapping[str, Any]) -> None:
        app_id = None
        if entry.get("app"):
            ids = self.app_by_name(entry["app"])
            app_id = ids[0] if ids else self.add_app(entry["app"])
        owned = self.buy(entry["number"], app_id=app_id)
        self.update(owned.number, alias=entry.get("alias"), labels=dict(entry.get("labels", {})))
        if entry.get("status") == PENDING:
            owned.status = PENDING

    # ----------------------------------------------------------------- persistence
    def to_dict(self) -> dict[str, Any]:
        """The account as plain data, each number an object. `save` writes the same data
        with the numbers and the log as rows, one per line (see `_write`)."""
        data = self._header()
        data["numbers"] = [self.numbers[k].to_dict() for k in self._keys()]
        data["log"] = [list(entry) for entry in self.log]
        return data

    def _header(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "seed": self.seed,
            "groups": [g.to_dict() for g in self.groups],
            "cursors": dict(self.cursors),
            "apps": dict(self.apps),
            "next_app": self._next_app,
            "taken": sorted(self.taken),
            "reservations": self.reservations,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> World:
        """Read `to_dict`'s form, or the file's (numbers as rows under `number_fields`)."""
        fields = data.get("number_fields")
        shared = SharedValues()
        numbers: dict[str, WorldNumber] = {}
        for entry in data.get("numbers", ()):
            fielded = entry if fields is None else dict(zip(fields, entry, strict=True))
            owned = WorldNumber.from_dict(fielded, shared)
            numbers[owned.number] = owned
        return cls._assemble(data, numbers, _log(data.get("log", ()), numbers, shared))

    @classmethod
    def _assemble(
        cls, data: Mapping[str, Any], numbers: dict[str, WorldNumber], log: list[tuple[str, str]]
    ) -> World:
        world = cls(
            [NumberGroup.from_dict(g) for g in data.get("groups", ())],
            apps=data.get("apps", {}),
            seed=int(data.get("seed", 0)),
        )
        world.numbers, world.log = numbers, log  # taken as they are: no copy of 100,000
        world.cursors.update({k: int(v) for k, v in data.get("cursors", {}).items()})
        world.taken = set(data.get("taken", ()))
        world.reservations = {str(k): dict(v) for k, v in data.get("reservations", {}).items()}
        world._next_app = int(data.get("next_app", len(world.apps) + 1))
        return world

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> World:
        """Read an account file. A file laid out as `save` writes it is read a chunk of rows
        at a time, so its text, its parsed rows and the account are never all in memory
        together (at 100,000 numbers that was 200 MB on top of the account); any other
        (format 1, or edited by hand) is read whole."""
        try:
            with open(path, encoding="utf-8") as handle:
                return cls._read_rows(handle)
        except (_OtherLayout, *_NOT_AN_ACCOUNT):
            pass  # read whole below: same account, or the error said with the file's name
        except OSError as exc:
            raise WorldError(f"cannot read the account file {path}: {exc}") from exc
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise WorldError(f"cannot read the account file {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise WorldError(f"the account file {path} does not hold a JSON object")
        written = data.get("format", 1)
        if isinstance(written, int) and written > FORMAT_VERSION:
            raise WorldError(
                f"the account file {path} was written by a newer numbers-iac (format "
                f"{written}); upgrade to read it"
            )
        try:
            return cls.from_dict(data)
        except _NOT_AN_ACCOUNT as exc:
            raise WorldError(
                f"the account file {path} is damaged ({type(exc).__name__}: {exc}); restore it "
                "from a copy, or delete it to start an empty simulated account"
            ) from exc

    @classmethod
    def _read_rows(cls, handle: Iterable[str]) -> World:
        """Read `_write`'s layout; raises `_OtherLayout` at the first line that is not."""
        lines = iter(handle)
        header: list[str] = []
        for line in lines:
            if line == _NUMBERS_OPEN:
                break
            if not line.endswith("\n"):
                raise _OtherLayout  # a format 1 file: one line, no newline
            header.append(line)
        data = _parse("".join(header).rstrip().removesuffix(",") + "}")
        if not isinstance(data, dict) or "number_fields" not in data:
            raise _OtherLayout
        if data.get("format") != FORMAT_VERSION:
            raise _OtherLayout  # read whole, where a newer format is refused by name
        fields, shared = data["number_fields"], SharedValues()
        numbers: dict[str, WorldNumber] = {}
        for row in _rows(lines, _NUMBERS_CLOSE):
            owned = WorldNumber.from_dict(dict(zip(fields, row, strict=True)), shared)
            numbers[owned.number] = owned
        if next(lines, None) != _LOG_OPEN:
            raise _OtherLayout
        log = _log(_rows(lines, _LOG_CLOSE), numbers, shared)
        if next(lines, None) is not None:
            raise _OtherLayout
        return cls._assemble(data, numbers, log)

    def save(self, path: str | os.PathLike[str], *, durable: bool = True) -> None:
        """Write the account atomically: a reader sees the old file or the new, never half.
        `durable=False` skips the fsyncs: the file still survives a killed process (the
        kernel holds it), only not a power cut, which a simulated account need not."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                self._write(handle)
                handle.flush()
                if durable:
                    os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        if durable:
            _fsync_dir(target.parent)

    def _write(self, handle: TextIO) -> None:
        """One JSON document: the header (everything but numbers and log; indented while
        the account is small), then `"numbers":[` and one row per line (field names once,
        in `number_fields`), then the log likewise. `_read_rows` reads it back in chunks."""
        header = self._header()
        header["number_fields"] = list(NUMBER_FIELDS)
        indent = 1 if len(self.numbers) < 1000 else None
        text = json.dumps(header, indent=indent, separators=(",", ":"))
        handle.write(text.removesuffix("}").rstrip() + ",\n" + _NUMBERS_OPEN)
        encode = json.JSONEncoder(separators=(",", ":")).encode
        _write_rows(handle, (self.numbers[k].to_row() for k in self._keys()), encode)
        handle.write(_NUMBERS_CLOSE + _LOG_OPEN)
        _write_rows(handle, (list(entry) for entry in self.log), encode)
        handle.write(_LOG_CLOSE)

    # ----------------------------------------------------------------- catalogue
    def group(self, group_id: str) -> NumberGroup:
        """The group with that id. Raises `WorldError` when there is none."""
        for group in self.groups:
            if group.group_id == group_id:
                return group
        raise WorldError(f"no number group {group_id!r}")

    def find_groups(
        self,
        country: str,
        number_type: str | None = None,
        region: str | None = None,
        prefix: str | None = None,
        capabilities: Sequence[str] = (),
    ) -> list[NumberGroup]:
        """Groups selling what was asked, in catalogue order. Raises `UnknownRegion`."""
        country = country.upper()
        digits = _digits(prefix) if prefix else None
        wanted = set(capabilities)
        found = [
            g
            for g in self.groups
            if g.country == country
            and (number_type is None or g.number_type == number_type)
            and (region is None or _region_matches(g.region, region))
            and (digits is None or g.prefix.startswith(digits) or digits.startswith(g.prefix))
            and wanted <= set(g.capabilities)
        ]
        if not found:
            raise UnknownRegion(_describe_missing(country, number_type, region, prefix, wanted))
        return found

    def search(
        self,
        country: str,
        number_type: str | None = None,
        region: str | None = None,
        prefix: str | None = None,
        capabilities: Sequence[str] = (),
        limit: int = 20,
        offset: int = 0,
    ) -> tuple[list[AvailableNumber], int]:
        """Numbers for sale, in a stable order, and how many there are in all."""
        groups = self.find_groups(country, number_type, region, prefix, capabilities)
        digits = _digits(prefix) if prefix else ""
        spans = [(g, max(digits, g.prefix, key=len)) for g in groups]
        total = sum(self._for_sale_count(g, p) for g, p in spans)
        found: list[AvailableNumber] = []
        skip = offset
        for group, group_prefix in spans:
            count = self._for_sale_count(group, group_prefix)
            if skip >= count:
                skip -= count
                continue
            wanted = min(limit - len(found), count - skip)
            for number in self._for_sale(group, group_prefix, skip, wanted):
                found.append(AvailableNumber(number, group))
            skip = 0
            if len(found) >= limit:
                break
        return found, total

    def group_for_sale(self, number: str) -> NumberGroup:
        """The group that sells `number` now. Raises `NotForSale` saying why it cannot."""
        if number in self.numbers:
            raise NotForSale(f"{number} is already owned by this account")
        if number in self.taken:
            raise NotForSale(f"{number} has been taken by another customer")
        if number in self._reserved():
            raise NotForSale(f"{number} is reserved")
        group = self._group_of(number)
        if group is None:
            raise NotForSale(f"{number} is not in any block of numbers for sale")
        if group.stock <= 0:
            raise NotForSale(f"{number} is out of stock ({group.group_id} is sold out)")
        return group

    def price_of(self, number: str) -> tuple[Decimal, Decimal]:
        """(setup, monthly) of an owned number, or of a number for sale."""
        owned = self.numbers.get(number)
        if owned is not None:
            return owned.setup, owned.monthly
        group = self.group_for_sale(number)
        return group.setup, group.monthly

    # ----------------------------------------------------------------- purchases
    def buy(self, number: str, app_id: str | None = None) -> WorldNumber:
        """Buy one specific number. Raises `NotForSale` or `UnknownApp`."""
        self._check_app(app_id)
        group = self.group_for_sale(number)
        return self._acquire(group, self._nsn(number, group), app_id)

    @staticmethod
    def _nsn(number: str, group: NumberGroup) -> str:
        return number[len(str(phonenumbers.country_code_for_region(group.country))) + 1 :]

    def buy_from_groups(
        self,
        groups: Sequence[NumberGroup],
        quantity: int,
        app_id: str | None = None,
        allow_partial: bool = False,
    ) -> list[WorldNumber]:
        """Buy up to `quantity` numbers from the groups in order, never more.

        Raises `OutOfStock` when fewer are for sale, unless `allow_partial`."""
        self._check_app(app_id)
        available = sum(max(g.stock, 0) for g in groups)
        if available < quantity and not allow_partial:
            raise OutOfStock(f"asked for {quantity} numbers, only {available} for sale", available)
        bought: list[WorldNumber] = []
        for group in groups:
            while len(bought) < quantity and group.stock > 0:
                nsn = self._next_from_cursor(group)
                if nsn is None:
                    group.stock = 0
                    break
                bought.append(self._acquire(group, nsn, app_id))
        return bought

    def take(self, number: str) -> None:
        """Another customer buys `number` (tests: "taken between search and buy"). A number
        reserved for this account cannot be taken meanwhile."""
        if number in self.numbers:
            raise NotForSale(f"{number} is owned by this account")
        if number in self._reserved():
            raise NotForSale(f"{number} is reserved for this account")
        group = self._group_of(number)
        if number not in self.taken and group is not None and group.stock > 0:
            group.stock -= 1
        self.taken.add(number)
        self._changed()

    # ----------------------------------------------------------------- reservations
    def reserve(self, numbers: Sequence[str], ttl: float, now: float) -> str:
        """Hold specific numbers for sale to this account until `now + ttl`: nobody else
        can buy them meanwhile. Returns the reservation token."""
        self.expire_reservations(now)
        for number in numbers:
            self.group_for_sale(number)
        token = "R" + uuid.uuid4().hex[:16]
        self.reservations[token] = {"numbers": list(numbers), "expires_at": now + ttl}
        self.log.append(("reserve", token))
        self._changed()
        return token

    def buy_reserved(self, token: str, now: float, app_id: str | None = None) -> list[WorldNumber]:
        """Buy what a reservation holds. Raises `ReservationExpired` once it lapsed."""
        reservation = self.reservations.get(token)
        if reservation is None or reservation["expires_at"] <= now:
            self.reservations.pop(token, None)
            raise ReservationExpired(f"reservation {token} has expired")
        self._check_app(app_id)
        del self.reservations[token]
        self._changed()
        # All or nothing: check every number before buying any.
        groups = [(number, self.group_for_sale(number)) for number in reservation["numbers"]]
        return [self._acquire(group, self._nsn(number, group), app_id) for number, group in groups]

    def cancel_reservation(self, token: str) -> None:
        if self.reservations.pop(token, None) is not None:
            self.log.append(("cancel", token))
            self._changed()

    def expire_reservations(self, now: float) -> None:
        lapsed = [t for t, r in self.reservations.items() if r["expires_at"] <= now]
        for token in lapsed:
            del self.reservations[token]
        if lapsed:
            self._changed()

    def set_stock(self, group_id: str, n: int) -> None:
        self.group(group_id).stock = n
        self._changed()

    # ----------------------------------------------------------------- owned numbers
    def release(self, number: str) -> WorldNumber:
        """Give a number back. It is free again but stock does not grow: a provider ages
        released numbers, so it is sold again only if asked for by number (or the cursor has
        not reached it yet)."""
        released = self.numbers.pop(number, None)
        if released is None:
            raise NotOwned(f"{number} is not owned by this account")
        self.log.append(("release", number))
        self._changed(numbers=True)
        return released

    def update(
        self,
        number: str,
        *,
        app_id: str | None = _UNSET,
        alias: str | None = _UNSET,
        labels: Mapping[str, str] = _UNSET,
    ) -> WorldNumber:
        """Change only the fields given. Logs "bind" for an app change, "update" otherwise."""
        owned = self._owned(number)
        if app_id is not _UNSET:
            self._check_app(app_id)
            owned.app_id = app_id
            self.log.append(("bind", number))
        if alias is not _UNSET or labels is not _UNSET:
            if alias is not _UNSET:
                owned.alias = alias
            if labels is not _UNSET:
                owned.labels = dict(labels)
            self.log.append(("update", number))
        self._changed()
        return owned

    def hold_pending(self, number: str) -> WorldNumber:
        """An owned number waits on a regulator (an emulator's regulated-country purchase)."""
        owned = self._owned(number)
        owned.status = PENDING
        self._changed()
        return owned

    @property
    def version(self) -> int:
        """Bumped on every change, so views computed from the account can be cached."""
        return self._version

    def activate(self, number: str) -> WorldNumber:
        """A pending number becomes active (the regulator approved the documents)."""
        owned = self._owned(number)
        owned.status = ACTIVE
        self._changed()
        return owned

    def owned(
        self, offset: int = 0, limit: int | None = None, **filters: Any
    ) -> tuple[list[WorldNumber], int]:
        """A page of owned numbers in number order, and how many match in all.

        Filters (None means "any"): `alias`, `number_type`, `app_id` (exact) and
        `startswith` (digits the number begins with, with or without "+")."""
        unknown = set(filters) - set(_OWNED_FILTERS)
        if unknown:
            raise TypeError(f"unknown owned() filters: {', '.join(sorted(unknown))}")
        active = tuple(sorted((k, v) for k, v in filters.items() if v is not None))
        keys = self._filtered_keys(active) if active else self._keys()
        end = None if limit is None else offset + limit
        return [self.numbers[k] for k in keys[offset:end]], len(keys)

    # ----------------------------------------------------------------- apps
    def add_app(self, name: str, app_id: str | None = None) -> str:
        """Create an app; ids are made up deterministically unless given."""
        while app_id is None:
            candidate = str(_FIRST_APP_ID + self.seed * 1_000_000 + self._next_app)
            self._next_app += 1
            if candidate not in self.apps:
                app_id = candidate
        self.apps[app_id] = name
        self._changed()
        return app_id

    def app_by_name(self, name: str) -> list[str]:
        return [app_id for app_id, app_name in self.apps.items() if app_name == name]

    # ----------------------------------------------------------------- internals
    def _changed(self, numbers: bool = False) -> None:
        self._version += 1
        if numbers:
            self._sorted_keys = None
        if self._filtered:
            self._filtered = {}
        if self._search_resume:
            self._search_resume = {}

    def _keys(self) -> list[str]:
        if self._sorted_keys is None:
            self._sorted_keys = sorted(self.numbers)
        return self._sorted_keys

    def _filtered_keys(self, active: tuple[tuple[str, Any], ...]) -> list[str]:
        keys = self._filtered.get(active)
        if keys is None:
            wanted = dict(active)
            keys = [k for k in self._keys() if _matches(self.numbers[k], wanted)]
            self._filtered[active] = keys
        return keys

    def _owned(self, number: str) -> WorldNumber:
        owned = self.numbers.get(number)
        if owned is None:
            raise NotOwned(f"{number} is not owned by this account")
        return owned

    def _check_app(self, app_id: str | None) -> None:
        if app_id is not None and app_id not in self.apps:
            raise UnknownApp(f"no app with id {app_id!r} on this account")

    def _plan(self, group: NumberGroup, prefix: str) -> _Plan | None:
        key = (group.group_id, prefix)
        if key not in self._plans:
            length = _nsn_length(group.country, group.number_type, group.prefix)
            calling_code = phonenumbers.country_code_for_region(group.country)
            types = TYPE_MATCHES.get(group.number_type, ())
            ok = length is not None and calling_code and len(prefix) <= length
            self._plans[key] = (
                _Plan(group.country, calling_code, prefix, length, types) if ok else None
            )
        return self._plans[key]

    def _sequence(self, group: NumberGroup, prefix: str) -> _Sequence | None:
        key = (group.group_id, prefix)
        sequence = self._sequences.get(key)
        if sequence is None:
            plan = self._plan(group, prefix)
            if plan is None:
                return None
            origin = self.cursors.get(group.group_id, 0) if prefix == group.prefix else 0
            sequence = self._sequences[key] = _Sequence(plan, origin)
        return sequence

    def _free(self, plan: _Plan, nsn: str) -> bool:
        number = plan.e164(nsn)
        return (
            number not in self.numbers
            and number not in self.taken
            and number not in self._reserved()
        )

    def _reserved(self) -> set[str]:
        if not self.reservations:
            return set()
        return {n for r in self.reservations.values() for n in r["numbers"]}

    def _next_from_cursor(self, group: NumberGroup) -> str | None:
        sequence = self._sequence(group, group.prefix)
        if sequence is None:
            return None
        index = sequence.index_from(self.cursors.get(group.group_id, 0))
        while (seq := sequence.get(index)) is not None:
            self.cursors[group.group_id] = seq + 1
            nsn = sequence.plan.nsn(seq)
            if self._free(sequence.plan, nsn):
                return nsn
            index += 1
        self.cursors[group.group_id] = sequence.end
        return None

    def _for_sale_count(self, group: NumberGroup, prefix: str) -> int:
        plan = self._plan(group, prefix)
        if plan is None:
            return 0
        return max(min(group.stock, 10**plan.suffix_len), 0)

    def _for_sale(self, group: NumberGroup, prefix: str, skip: int, wanted: int) -> list[str]:
        """`wanted` numbers for sale in a group after the first `skip`; sequential pages
        resume where the previous one stopped instead of walking from the start."""
        sequence = self._sequence(group, prefix)
        if sequence is None:
            return []
        index = self._search_resume.get((group.group_id, prefix, skip))
        if index is None:
            origin = self.cursors.get(group.group_id, 0) if prefix == group.prefix else 0
            _, index = self._free_from(sequence, sequence.index_from(origin), skip)
        found, index = self._free_from(sequence, index, wanted)
        self._search_resume[(group.group_id, prefix, skip + len(found))] = index
        return [sequence.plan.e164(nsn) for nsn in found]

    def _free_from(self, sequence: _Sequence, index: int, count: int) -> tuple[list[str], int]:
        """Up to `count` free candidates from `index` on, and the index to carry on from."""
        found: list[str] = []
        while len(found) < count and (seq := sequence.get(index)) is not None:
            index += 1
            nsn = sequence.plan.nsn(seq)
            if self._free(sequence.plan, nsn):
                found.append(nsn)
        return found, index

    def _group_of(self, number: str) -> NumberGroup | None:
        """The group whose block holds `number` (longest prefix wins), valid or None."""
        try:
            parsed = phonenumbers.parse(number, None)
        except phonenumbers.NumberParseException:
            return None
        country = phonenumbers.region_code_for_number(parsed)
        nsn = phonenumbers.national_significant_number(parsed)
        if not country or number != f"+{parsed.country_code}{nsn}":
            return None
        candidates = [g for g in self.groups if g.country == country and nsn.startswith(g.prefix)]
        for group in sorted(candidates, key=lambda g: len(g.prefix), reverse=True):
            plan = self._plan(group, group.prefix)
            if plan is not None and len(nsn) == plan.length and plan.is_valid(nsn):
                return group
        return None

    def _acquire(self, group: NumberGroup, nsn: str, app_id: str | None) -> WorldNumber:
        calling_code = phonenumbers.country_code_for_region(group.country)
        number = f"+{calling_code}{nsn}"
        owned = WorldNumber(
            number=number,
            provider_id=number[1:],
            country=group.country,
            number_type=group.number_type,
            region=group.region,
            app_id=app_id,
            alias=None,
            labels={},
            status=PENDING if group.regulated else ACTIVE,
            monthly=group.monthly,
            setup=group.setup,
            currency=group.currency,
            capabilities=tuple(group.capabilities),
            added_on=datetime.date.today().isoformat(),
            group_id=group.group_id,
        )
        group.stock -= 1
        self.numbers[number] = owned
        self.log.append(("buy", number))
        self._changed(numbers=True)
        return owned


# --------------------------------------------------------------------------- the file

_NUMBERS_OPEN = '"numbers":[\n'
_NUMBERS_CLOSE = "],\n"
_LOG_OPEN = '"log":[\n'
_LOG_CLOSE = "]}\n"
#: rows parsed at once: few parser calls, little text held
_CHUNK_ROWS = 2000


class _OtherLayout(Exception):
    """The file is not laid out as `World.save` writes it: read it whole instead."""


def _parse(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise _OtherLayout from None


def _rows(lines: Iterator[str], close: str) -> Iterator[list[Any]]:
    """The rows up to the `close` line, one row a line, parsed a chunk at a time."""
    chunk: list[str] = []
    for line in lines:
        if line == close or line == close.rstrip("\n"):
            yield from _parse_chunk(chunk)
            return
        chunk.append(line)
        if len(chunk) == _CHUNK_ROWS:
            yield from _parse_chunk(chunk)
            chunk = []
    raise _OtherLayout


def _parse_chunk(lines: list[str]) -> list[list[Any]]:
    if not lines:
        return []
    rows = _parse("[" + "".join(lines).rstrip().removesuffix(",") + "]")
    if not all(isinstance(row, list) for row in rows):
        raise _OtherLayout
    return rows


def _write_rows(handle: TextIO, rows: Iterable[list[Any]], encode: Callable[[Any], str]) -> None:
    """The rows, one a line, comma-separated; written a chunk at a time."""
    separator, chunk = "", []
    for row in rows:
        chunk.append(encode(row))
        if len(chunk) == _CHUNK_ROWS:
            handle.write(separator + ",\n".join(chunk))
            separator, chunk = ",\n", []
    if chunk:
        handle.write(separator + ",\n".join(chunk))
        separator = ",\n"
    if separator:
        handle.write("\n")


def _log(
    entries: Iterable[Sequence[Any]], numbers: Mapping[str, WorldNumber], shared: SharedValues
) -> list[tuple[str, str]]:
    """Log entries whose number strings are the owned numbers' own (no second copy)."""
    log: list[tuple[str, str]] = []
    for kind, number in entries:
        owned = numbers.get(number)
        log.append((shared.text(str(kind)), owned.number if owned else str(number)))
    return log


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _region_matches(group_region: str | None, asked: str) -> bool:
    """Case-insensitive; "Amiens" matches "AMIENS, FRANCE" as well as the full name."""
    if group_region is None:
        return False
    asked = asked.strip().casefold()
    full = group_region.casefold()
    return asked == full or asked == full.split(",")[0].strip()


def _matches(owned: WorldNumber, wanted: Mapping[str, Any]) -> bool:
    for key, value in wanted.items():
        if key == "startswith":
            if not owned.provider_id.startswith(str(value).lstrip("+")):
                return False
        elif getattr(owned, key) != value:
            return False
    return True


def _describe_missing(
    country: str,
    number_type: str | None,
    region: str | None,
    prefix: str | None,
    capabilities: set[str],
) -> str:
    what = f"{country} {number_type or 'numbers'}"
    if region:
        what += f" in region {region!r}"
    if prefix:
        what += f" with prefix {prefix}"
    if capabilities:
        what += f" with {'+'.join(sorted(capabilities))}"
    return f"no numbers for sale: {what}"


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable; not every platform can open a directory."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


__all__ = [
    "ACTIVE",
    "PENDING",
    "TYPE_MATCHES",
    "AvailableNumber",
    "NotForSale",
    "NotOwned",
    "NumberGroup",
    "OutOfStock",
    "UnknownApp",
    "UnknownRegion",
    "World",
    "WorldError",
    "WorldNumber",
]
