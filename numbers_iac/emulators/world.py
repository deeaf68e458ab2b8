"""A simulated provider account: inventory with stock and prices, owned numbers, apps, orders.

SPEC STUB — being implemented. The sandbox provider persists one World to a JSON file; every
provider emulator (WSGI app speaking a provider's wire format) serves one World. Standard
library + phonenumbers only. Errors are `WorldError` subclasses (emulator side; adapters map
them to `numbers_iac.errors` types, emulators map them to HTTP error bodies).

Agreed API (both the sandbox provider and the emulators rely on exactly this):

    class WorldError(Exception)
    class UnknownRegion(WorldError)      # no group matches country/type/region/prefix
    class OutOfStock(WorldError)         # fewer numbers for sale than asked (has .available)
    class NotForSale(WorldError)         # a specific number is not available (taken/owned/invalid)
    class NotOwned(WorldError)           # the account does not own that number
    class UnknownApp(WorldError)

    @dataclass class NumberGroup:        # a block of numbers for sale
        group_id: str; country: str (ISO alpha-2); number_type: str (local|national|mobile|tollfree)
        region: str | None; prefix: str (national significant digits the numbers start with)
        stock: int; setup: Decimal; monthly: Decimal; currency: str = "USD"
        capabilities: tuple[str, ...] = ("voice", "sms"); regulated: bool = False

    @dataclass class AvailableNumber:     # a specific number for sale
        number: str (E.164 "+..."); group: NumberGroup

    @dataclass class WorldNumber:         # a number the account owns
        number: str (E.164); provider_id: str; country: str; number_type: str
        region: str | None; app_id: str | None; alias: str | None; labels: dict[str, str]
        status: str ("active" | "pending"); monthly: Decimal; setup: Decimal; currency: str
        capabilities: tuple[str, ...]; added_on: str (YYYY-MM-DD); group_id: str | None

    class World:
        groups: list[NumberGroup]; numbers: dict[str, WorldNumber]; apps: dict[str, str] (id->name)
        log: list[tuple[str, str]]       # ("buy"|"release"|"bind"|"update", number): the
                                         # account's own record of mutations, for tests
        @classmethod builtin(cls, seed: int = 0) -> World    # the built-in catalogue (US GB FR DE AU)
        @classmethod from_seed(cls, data: dict) -> World      # {"apps": [names], "owned": N or [..],
                                                              #  "catalogue": "builtin" | [groups]}
        @classmethod load(cls, path) -> World; save(self, path) (atomic: tmp + rename)
        to_dict(); from_dict()
        find_groups(country, number_type=None, region=None, prefix=None, capabilities=()) -> list[NumberGroup]
            # region matched case-insensitively on the group's region; prefix = startswith on
            # the group's prefix (or group prefix startswith it). Raises UnknownRegion if none.
        search(country, number_type=None, region=None, prefix=None, capabilities=(),
               limit=20, offset=0) -> tuple[list[AvailableNumber], int total]
            # specific numbers for sale, deterministic order; each valid per phonenumbers for
            # the country and of the group's type
        buy(number, app_id=None) -> WorldNumber     # NotForSale if taken/owned/not in stock
        buy_from_groups(groups, quantity, app_id=None, allow_partial=False) -> list[WorldNumber]
            # OutOfStock if not allow_partial and fewer available
        release(number) -> WorldNumber              # NotOwned if not owned
        update(number, *, app_id=..., alias=..., labels=...)   # sentinel: only given fields change
        owned(offset=0, limit=None, **filters) -> tuple[list[WorldNumber], int total]
            # stable order (by number); filters: alias, number_type, startswith, app_id
        add_app(name, app_id=None) -> str; app_by_name(name) -> list[ids]
        take(number)          # someone else buys it (tests: "taken between search and buy")
        set_stock(group_id, n)
        activate(number)      # a pending number becomes active (regulator approved)
        price_of(number) -> tuple[Decimal setup, Decimal monthly]
"""
