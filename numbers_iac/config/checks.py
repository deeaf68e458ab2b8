"""The checks a schema cannot express, and the construction of `Desired`.

Pinned numbers (E.164, the right country, pinned once), cross references between declarations
and providers, and what each provider's class says it supports: its settings, capabilities,
declaration options and its own `validate_declaration`.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import phonenumbers

from numbers_iac.config.problems import FieldPath, Problems, did_you_mean
from numbers_iac.config.yaml_marks import Document
from numbers_iac.model import (
    NUMBER_TYPES,
    Declaration,
    Desired,
    ProviderConfig,
    Safety,
    SourceRef,
    StateConfig,
)
from numbers_iac.phones import facts_of
from numbers_iac.providers.base import Provider
from numbers_iac.providers.registry import (
    COMMON_SETTINGS_SCHEMA,
    HTTP_SETTINGS_SCHEMA,
    LOCAL_TYPES,
    PLANNED_TYPES,
    PROVIDER_TYPES,
    provider_class,
)

DEFAULT_STATE_PATH = ".numbers-iac/state.sqlite"
DEFAULT_NUMBER_TYPE = "local"
#: the state backends this version has, and those planned (refused with "not available in
#: this version" rather than "not one of"; the schema offers only the first)
STATE_BACKENDS = ("sqlite", "postgres")
PLANNED_STATE_BACKENDS: tuple[str, ...] = ()
#: how the schema's generated provider options (`numbers_iac.schema_gen`) are described, to
#: tell them from the keys every declaration takes
DECLARATION_OPTION_PREFIX = "Provider option"

#: settings every provider accepts besides its class's `settings_keys` (their form is
#: checked by the schema, where they are described)
COMMON_PROVIDER_SETTINGS = tuple(COMMON_SETTINGS_SCHEMA)
#: settings every provider that speaks HTTP (every type but `LOCAL_TYPES`) accepts as well
HTTP_PROVIDER_SETTINGS = tuple(HTTP_SETTINGS_SCHEMA)


@dataclass
class _ProviderInfo:
    """What the checks need to know about one entry under `providers:`."""

    name: str
    type: str | None
    cls: type[Provider] | None = None  # None when the type is unknown or cannot be imported
    apps: tuple[str, ...] | None = None  # apps listed in the config, None: listed by the API


class Checker:
    """The checks a schema cannot express, and the construction of `Desired`."""

    def __init__(self, doc: Document, problems: Problems, schema: Mapping[str, Any], path: Path):
        self.doc = doc
        self.problems = problems
        self.path = path
        self.base_dir = str(path.parent)
        self.common_keys = common_declaration_keys(schema)
        self.pinned_by: dict[str, tuple[str, FieldPath]] = {}

    def add(self, path: FieldPath, message: str, *, at_key: bool = False) -> None:
        mark = self.doc.key_mark(path) if at_key else self.doc.mark(path)
        self.problems.add(mark, path, message)

    def source(self, path: FieldPath) -> SourceRef | None:
        return self.doc.source(path, self.problems.file)

    def shown(self, value: Any, path: FieldPath, candidates: Sequence[str] = ()) -> tuple[str, str]:
        """A value for a message and a "did you mean" for it, or a stand-in and no suggestion
        when it came from the environment."""
        if path in self.doc.from_env:
            return self.doc.shown(value, path), ""
        return repr(value), did_you_mean(str(value), list(candidates))

    def desired(self, digest: str) -> Desired | None:
        data = self.doc.data
        providers_raw = _mapping(data.get("providers"))
        infos = {name: self.provider_info(name, raw) for name, raw in providers_raw.items()}
        providers = {
            name: self.provider_config(name, raw, infos[name])
            for name, raw in providers_raw.items()
        }
        declarations = {  # one that is no mapping is the schema's to report, alone
            name: self.declaration(name, raw, infos)
            for name, raw in _mapping(data.get("numbers")).items()
            if isinstance(raw, dict)
        }
        self.moves(declarations)
        state = self.state(_mapping(data.get("state")))
        safety = self.safety(_mapping(data.get("safety")))
        if self.problems.items:
            return None
        return Desired(str(self.path), digest, providers, declarations, state, safety)

    # ----------------------------------------------------------------- providers

    def provider_info(self, name: str, raw: Any) -> _ProviderInfo:
        raw = _mapping(raw)
        type_name = raw.get("type") if isinstance(raw.get("type"), str) else None
        apps = raw.get("apps")
        listed = tuple(a for a in apps if isinstance(a, str)) if isinstance(apps, list) else None
        info = _ProviderInfo(name, type_name, apps=listed)
        if type_name is not None:
            info.cls = self.provider_class(type_name, ("providers", name, "type"))
        return info

    def provider_class(self, type_name: str, path: FieldPath) -> type[Provider] | None:
        if type_name not in PROVIDER_TYPES:
            if type_name in PLANNED_TYPES:  # adapter not shipped yet
                available = ", ".join(sorted(PROVIDER_TYPES))
                self.add(
                    path,
                    f"provider type '{type_name}' is not available in this version of numbers-iac (available: {available})",
                )
            return None
        try:
            return provider_class(type_name)
        except ImportError:  # an adapter that cannot load: its checks happen when it is used
            return None

    def provider_config(self, name: str, raw: Any, info: _ProviderInfo) -> ProviderConfig:
        raw = _mapping(raw)
        if info.cls is not None:
            allowed = ["type", *COMMON_PROVIDER_SETTINGS, *info.cls.settings_keys]
            if info.type not in LOCAL_TYPES:
                allowed.extend(HTTP_PROVIDER_SETTINGS)
            for key in raw:
                if key not in allowed:
                    accepted = ", ".join(sorted(set(allowed) - {"type"})) or "none"
                    message = f"unknown setting '{key}' for a {info.type} provider{did_you_mean(key, allowed)} (accepted: {accepted})"
                    self.add(("providers", name, key), message, at_key=True)
        settle = raw.get("settle_time")
        if isinstance(settle, float) and not math.isfinite(settle):  # the schema lets NaN by
            message = "must be a finite duration: seconds, or like 90s, 15m, 1h"
            self.add(("providers", name, "settle_time"), message)
        self.base_url(name, raw.get("base_url"), info)
        settings = {k: v for k, v in raw.items() if k != "type"}
        source = self.source(("providers", name))
        sources = {k: at for k in settings if (at := self.source(("providers", name, k)))}
        return ProviderConfig(name, info.type or "", settings, source, self.base_dir, sources)

    def base_url(self, name: str, url: Any, info: _ProviderInfo) -> None:
        """A URL httpx cannot parse, or a host IDNA refuses, is reported here with its line,
        before anything connects (the schema only checks the scheme)."""
        if info.type in LOCAL_TYPES or not isinstance(url, str):
            return
        path = ("providers", name, "base_url")
        if not url.startswith(("http://", "https://")):  # the schema's pattern reports it,
            if url.startswith("${") and path not in self.doc.deferred:  # but for a ${ left
                self.add(path, "expected an http:// or https:// URL")  # (editors see ${VAR})
            return
        # imported here: loading a configuration must not load httpx until one needs it
        from numbers_iac.providers.http import base_url_problem

        problem = base_url_problem(url)
        if problem is None:
            return
        if path in self.doc.from_env:
            problem = "the value read from the environment is not a usable URL"
        self.add(path, problem)

    # ----------------------------------------------------------------- declarations

    def declaration(
        self, name: str, raw: dict[str, Any], infos: Mapping[str, _ProviderInfo]
    ) -> Declaration:
        at: FieldPath = ("numbers", name)
        info = self.declared_provider(at, raw, infos)
        pinned, country = self.pinned_numbers(at, raw)
        number_type = _text(raw.get("type")) or DEFAULT_NUMBER_TYPE
        pinned_count = len(_list(raw.get("numbers")))
        quantity = self.quantity(at, raw.get("quantity"), pinned_count)
        buys = quantity > pinned_count
        if buys and not country and "country" not in raw:
            extra = (
                f"{quantity - pinned_count} more than the pinned numbers"
                if pinned_count
                else "numbers"
            )
            self.add(at, f"buying {extra} needs a country (e.g. country: FR)", at_key=True)
        if "region" in raw and "prefix" in raw:
            self.add((*at, "prefix"), "give region or prefix, not both", at_key=True)
        if info is not None:
            self.app(at, raw.get("app"), info)
        self.label_values(at, raw.get("labels"))
        if info is not None and info.cls is not None:
            self.against_provider(at, raw, info, number_type if ("type" in raw or buys) else None)
        options = {k: v for k, v in raw.items() if k not in self.common_keys}
        declaration = Declaration(
            name=name,
            provider=_text(raw.get("provider")) or "",
            quantity=quantity,
            country=country,
            number_type=number_type,
            region=_text(raw.get("region")),
            prefix=_text(raw.get("prefix")),
            capabilities=tuple(c for c in _list(raw.get("capabilities")) if isinstance(c, str)),
            pinned=tuple(pinned),
            app=_text(raw.get("app")),
            labels=_labels(raw.get("labels")),
            protect=raw.get("protect") is True,
            options=options,
            moved_from=tuple(n for n in _list(raw.get("moved_from")) if isinstance(n, str)),
            release_after=_days(raw.get("release_after")),
            source=self.source(at),
            field_sources=self.field_sources(at, raw),
        )
        if info is not None and info.cls is not None:
            for problem in info.cls.validate_declaration(declaration):
                self.problems.add_located(problem)
        return declaration

    def label_values(self, at: FieldPath, labels: Any) -> None:
        """A label is text, and YAML reads some unquoted text as a number or a boolean
        written otherwise (`0777` is 511, `12:30` is 750, `0x1F` is 31, `off` is false): ask
        for quotes rather than store a value nobody wrote."""
        for key, item in _mapping(labels).items():
            if not isinstance(item, bool | int | float):
                continue
            path = (*at, "labels", key)
            written, stored = self.doc.texts.get(path), _label_text(item)
            if written is not None and written != stored and path not in self.doc.from_env:
                self.add(
                    path,
                    f'{written} reads as {stored} in YAML: write "{written}" in quotes to keep '
                    "it as written",
                )

    def moves(self, declarations: Mapping[str, Declaration]) -> None:
        """`moved_from` names an old declaration: not one still declared, and one old name
        moves into one declaration only."""
        claimed: dict[str, str] = {}
        for name, declaration in declarations.items():
            for old in declaration.moved_from:
                at = ("numbers", name, "moved_from")
                if old == name:
                    self.add(at, f"'{old}' is this declaration's own name")
                elif old in declarations:
                    self.add(
                        at, f"'{old}' is still declared: remove it, or drop it from moved_from"
                    )
                elif old in claimed:
                    self.add(at, f"'{old}' already moves into '{claimed[old]}'")
                else:
                    claimed[old] = name

    def quantity(self, at: FieldPath, written: Any, pinned_count: int) -> int:
        """The total wanted: as written, else the pinned count, else 1."""
        if not isinstance(written, int) or isinstance(written, bool):
            return pinned_count or 1  # not written, or the schema reported it
        if 0 <= written < pinned_count:
            numbers = "number" if pinned_count == 1 else "numbers"
            message = f"quantity {written} is lower than the {pinned_count} pinned {numbers}"
            self.add((*at, "quantity"), message)
        return written

    def declared_provider(
        self, at: FieldPath, raw: Mapping[str, Any], infos: Mapping[str, _ProviderInfo]
    ) -> _ProviderInfo | None:
        name = raw.get("provider")
        if not isinstance(name, str):
            return None
        if name not in infos:
            defined = ", ".join(sorted(infos)) or "none"
            shown, hint = self.shown(name, (*at, "provider"), list(infos))
            message = f"unknown provider {shown}{hint} (defined under providers: {defined})"
            self.add((*at, "provider"), message)
            return None
        return infos[name]

    def app(self, at: FieldPath, app: Any, info: _ProviderInfo) -> None:
        """Apps listed in the configuration are checked here; apps that exist only in the
        provider's API are checked at plan time, when the account is listed."""
        if not isinstance(app, str):
            return
        described = f"provider '{info.name}' ({info.type})"
        if info.cls is not None and not info.cls.capabilities.apps:
            self.add((*at, "app"), f"{described} has no app binding: remove app")
        elif info.apps is not None and app not in info.apps:
            listed = ", ".join(info.apps) or "none"
            shown, hint = self.shown(app, (*at, "app"), info.apps)
            named = f"app {shown}"
            if (*at, "app") in self.doc.from_env:
                named = "the app read from the environment"
            message = f"{named} is not one of the apps of {described}: {listed}{hint}"
            self.add((*at, "app"), message)

    def against_provider(
        self, at: FieldPath, raw: Mapping[str, Any], info: _ProviderInfo, number_type: str | None
    ) -> None:
        """Checks that depend on what the provider's class says it supports."""
        caps = info.cls.capabilities
        described = f"provider '{info.name}' ({info.type})"
        if _list(raw.get("numbers")) and not caps.purchase_specific:
            self.add(
                (*at, "numbers"),
                f"{described} cannot buy specific numbers: remove numbers: or use quantity",
                at_key=True,
            )
        if number_type in NUMBER_TYPES and number_type not in caps.number_types:
            sells = ", ".join(caps.number_types)
            self.add(
                (*at, "type"),
                f"{described} does not sell {number_type} numbers (it sells: {sells})",
            )
        if "region" in raw and not caps.region_filter:
            self.add(
                (*at, "region"), f"{described} cannot search by region: use prefix", at_key=True
            )
        if "prefix" in raw and not caps.prefix_filter:
            self.add(
                (*at, "prefix"), f"{described} cannot search by prefix: use region", at_key=True
            )
        labels = raw.get("labels")
        if (
            caps.max_labels is not None
            and isinstance(labels, Mapping)
            and len(labels) > caps.max_labels
        ):
            self.add(
                (*at, "labels"),
                f"{described} stores at most {caps.max_labels} labels, {len(labels)} given",
                at_key=True,
            )
        allowed = [*self.common_keys, *info.cls.declaration_options]
        for key in raw:
            if key not in allowed:
                options = ", ".join(info.cls.declaration_options) or "none"
                message = f"unknown key '{key}'{did_you_mean(key, allowed)} ({info.type} options: {options})"
                self.add((*at, key), message, at_key=True)

    def pinned_numbers(self, at: FieldPath, raw: Mapping[str, Any]) -> tuple[list[str], str | None]:
        """Normalise pinned numbers to E.164 and settle the declaration's country."""
        country = raw.get("country").upper() if isinstance(raw.get("country"), str) else None
        if country and country not in phonenumbers.SUPPORTED_REGIONS:
            shown, _ = self.shown(raw["country"], (*at, "country"))
            self.add((*at, "country"), f"{shown} is not a country code phonenumbers knows")
            country = None
        pinned: list[str] = []
        regions: dict[str, None] = {}
        for index, text in enumerate(_list(raw.get("numbers"))):
            if not isinstance(text, str):
                continue
            checked = self.check_number(at, index, text, country)
            if checked is None:
                continue
            e164, region = checked
            regions[region] = None
            self.claim(at, index, e164, pinned)
        if country is None and len(regions) > 1:
            self.add(
                (*at, "numbers"),
                f"pinned numbers belong to different countries ({', '.join(regions)}): set country or split the declaration",
            )
        elif country is None and regions and "country" not in raw:
            country = next(iter(regions))
        return pinned, country

    def check_number(
        self, at: FieldPath, index: int, text: str, country: str | None
    ) -> tuple[str, str | None] | None:
        """The number in E.164 and its region, or None after reporting why it is not valid.
        Numbers `import` wrote are canonical E.164: `phones` answers those ten times faster
        than a full parse, with the same answers; the rest are parsed."""
        facts = facts_of(text)
        if facts is not None and facts.valid and country in (None, facts.region):
            return text, facts.region
        parsed = self.parse_number(at, index, text, country)
        if parsed is None:
            return None
        e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        return e164, phonenumbers.region_code_for_number(parsed)

    def parse_number(self, at: FieldPath, index: int, text: str, country: str | None) -> Any:
        path = (*at, "numbers", index)
        shown = self.doc.shown(text, path)
        if any(ch.isalpha() for ch in text):  # phonenumbers would read them as keypad digits
            self.add(path, f"{shown} has letters: write the number in digits")
            return None
        try:
            parsed = phonenumbers.parse(text, country)
        except phonenumbers.NumberParseException:
            hint = "" if country else " (write it with its +country code, or set country)"
            self.add(path, f"{shown} is not a phone number{hint}")
            return None
        if not phonenumbers.is_valid_number(parsed):
            self.add(path, f"{shown} is not a valid phone number")
            return None
        if country and not phonenumbers.is_valid_number_for_region(parsed, country):
            region = phonenumbers.region_code_for_number(parsed)
            self.add(
                path, f"{shown} is a {region} number, but the declaration's country is {country}"
            )
            return None
        return parsed

    def claim(self, at: FieldPath, index: int, e164: str, pinned: list[str]) -> None:
        """Record a pinned number, reporting one pinned twice (here or in another declaration)."""
        path = (*at, "numbers", index)
        name = str(at[1])
        if e164 in self.pinned_by:
            other, other_path = self.pinned_by[e164]
            mark = self.doc.mark(other_path)
            line = f" at line {mark.line + 1}" if mark else ""
            secret = path in self.doc.from_env or other_path in self.doc.from_env
            number = "this number (read from the environment)" if secret else e164
            if other == name:
                self.add(path, f"{number} is listed twice in this declaration (first{line})")
            else:
                self.add(
                    path,
                    f"{number} is pinned by both '{other}'{line} and '{name}': a number belongs to one declaration",
                )
            return
        self.pinned_by[e164] = (name, path)
        pinned.append(e164)

    def field_sources(self, at: FieldPath, raw: Mapping[str, Any]) -> dict[str, SourceRef]:
        """Where each written field is, by YAML key and by `Declaration` field name."""
        sources: dict[str, SourceRef] = {}
        aliases = {"numbers": "pinned", "type": "number_type"}
        for key in raw:
            source = self.source((*at, key))
            if source is None:
                continue
            sources[key] = source
            if key in aliases:
                sources[aliases[key]] = source
        for index, _ in enumerate(_list(raw.get("numbers"))):
            item = self.doc.mark((*at, "numbers", index))
            if item is not None:
                sources[f"numbers[{index}]"] = SourceRef(
                    self.problems.file, item.line + 1, item.column + 1
                )
        return sources

    # ----------------------------------------------------------------- state

    def state(self, raw: Mapping[str, Any]) -> StateConfig:
        backend = raw.get("backend")
        if backend in PLANNED_STATE_BACKENDS:
            available = ", ".join(STATE_BACKENDS)
            self.add(
                ("state", "backend"),
                f"state backend '{backend}' is not available in this version of numbers-iac (available: {available})",
            )
        if backend == "postgres":  # the schema requires `dsn` (a secret, kept out of repr)
            return StateConfig("postgres", None, _text(raw.get("dsn")))
        written = _text(raw.get("path")) or DEFAULT_STATE_PATH
        path = os.path.abspath(os.path.join(self.base_dir, os.path.expanduser(written)))
        if os.path.isdir(path):
            self.add(("state", "path"), f"{written!r} is a directory: name the state file in it")
        return StateConfig("sqlite", path, None)

    # ----------------------------------------------------------------- safety

    def safety(self, raw: Mapping[str, Any]) -> Safety:
        """The `safety:` block over the defaults (the schema checked each value's form)."""
        defaults = Safety()
        return Safety(
            max_purchases=_count(raw.get("max_purchases"), defaults.max_purchases),
            max_releases=_count(raw.get("max_releases"), defaults.max_releases),
            max_release_percent=_amount(raw.get("max_release_percent")),
            max_monthly_increase=_amount(raw.get("max_monthly_increase")),
            release_after=_days(raw.get("release_after")),
        )


# --------------------------------------------------------------------------- the schema's parts


def is_declaration_option(property_schema: Mapping[str, Any]) -> bool:
    """Whether a property of `$defs.declaration` is a generated provider option."""
    description = property_schema.get("description", "")
    return isinstance(description, str) and description.startswith(DECLARATION_OPTION_PREFIX)


def common_declaration_keys(schema: Mapping[str, Any]) -> tuple[str, ...]:
    """The keys every declaration takes, whatever its provider."""
    properties = schema["$defs"]["declaration"]["properties"]
    return tuple(key for key, value in properties.items() if not is_declaration_option(value))


# --------------------------------------------------------------------------- small readers


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


#: a cooling-off period as written: days, like `30d`
DAYS = re.compile(r"^([0-9]{1,5})d$")


def _days(value: Any) -> int | None:
    """`30d` as 30; None when not written (or written wrong: the schema reports it)."""
    match = DAYS.match(value) if isinstance(value, str) else None
    return int(match.group(1)) if match else None


def _count(value: Any, default: int | None) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return default


def _amount(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return Decimal(str(value))


def _labels(value: Any) -> dict[str, str]:
    """Labels as plain text: YAML `4711` and `true` become "4711" and "true"."""
    return {
        key: _label_text(item)
        for key, item in _mapping(value).items()
        if isinstance(item, str | int | float)
    }


def _label_text(item: str | int | float) -> str:
    if isinstance(item, bool):
        return "true" if item else "false"
    return str(item)
