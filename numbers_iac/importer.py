"""`numbers-iac import`: turn numbers an account already owns into declarations.

Numbers no declaration claims are grouped (by their ownership tag when they carry one, and by
country, type, location and app) into declarations appended as text to the configuration file
so the user's comments survive, and recorded in the state, so the next plan shows no changes.
By default each group is a pool: a `quantity` with where it is, its members named in the
state only, so an account of 100,000 numbers imports as a few lines that every provider can
honour (some cannot buy a specific number). `pinned=True` lists every number instead. The
new file is validated before it replaces the old one: on any error nothing is changed.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from numbers_iac.config import DEFAULT_NUMBER_TYPE, load_config
from numbers_iac.errors import ConfigError, NumbersIacError
from numbers_iac.model import Declaration, Desired, ManagedNumber, OwnedNumber
from numbers_iac.providers.base import Capabilities, Progress, Provider
from numbers_iac.state.base import StateStore


@dataclass(frozen=True)
class ImportResult:
    yaml_text: str
    count: int
    declarations: tuple[str, ...]
    #: (number, its alias before) for every number whose provider-side alias import
    #: replaced with its declaration's name (the ownership tag)
    renamed_aliases: tuple[tuple[str, str], ...] = ()
    #: removed declarations whose numbers the state still manages (not imported again)
    held_by_removed: tuple[str, ...] = ()


def import_numbers(
    desired: Desired,
    providers,
    store: StateStore,
    provider_name: str,
    *,
    write: bool,
    progress: Callable[[str], Progress],
    pinned: bool = False,
) -> ImportResult:
    if provider_name not in desired.providers:
        raise NumbersIacError(
            f"provider {provider_name!r} is not configured "
            f"(configured: {', '.join(sorted(desired.providers))})"
        )
    provider = providers[provider_name]
    account = provider.account(progress(f"listing {provider_name}"))
    recorded = store.load()
    claimed = {
        n for d in desired.declarations.values() if d.provider == provider_name for n in d.pinned
    }
    claimed |= {number for (p, number) in recorded.numbers if p == provider_name}
    apps = {a.app_id: a.name for a in account.apps}
    here = {name for name, d in desired.declarations.items() if d.provider == provider_name}
    unclaimed = [
        n
        for n in account.numbers
        if n.number not in claimed and not (provider.capabilities.ownership_tag and n.tag in here)
    ]
    listed = {n.number for n in account.numbers}
    held_by_removed = sorted(
        {
            m.declaration
            for (p, number), m in recorded.numbers.items()
            if p == provider_name and number in listed and m.declaration not in desired.declarations
        }
    )
    caps = provider.capabilities
    groups = _group(provider_name, unclaimed, apps, set(desired.declarations), pools=not pinned)
    entries = {
        name: _entry(provider_name, numbers, apps, caps)
        if pinned or not _poolable(numbers[0], caps)
        else _checked_pool(type(provider), name, _pool(provider_name, numbers, apps, caps))
        for name, numbers in groups.items()
    }
    text = _yaml_block(entries, flow=pinned)
    renamed: list[tuple[str, str]] = []
    if write and entries:
        _append_to_config(Path(desired.config_path), text)
        store.save_numbers(
            [
                ManagedNumber(
                    provider=provider_name,
                    number=n.number,
                    declaration=name,
                    provider_id=n.provider_id,
                    app=apps.get(n.app_id) if n.app_id else None,
                    labels=dict(n.labels or {}),
                    status=n.status,
                )
                for name, numbers in groups.items()
                for n in numbers
            ]
        )
        if provider.capabilities.ownership_tag:
            retag = [
                (n, name, dict(n.labels or {}))
                for name, ns in groups.items()
                for n in ns
                if n.tag != name
            ]
            if retag:
                provider.set_labels(retag)
            renamed = [(n.number, n.tag) for n, _, _ in retag if n.tag]
    return ImportResult(text, len(unclaimed), tuple(groups), tuple(renamed), tuple(held_by_removed))


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or "imported"


def _group(
    provider: str,
    numbers: list[OwnedNumber],
    apps: dict[str, str],
    taken: set[str],
    *,
    pools: bool = False,
) -> dict[str, list[OwnedNumber]]:
    """Numbers by tag (else country and type), app and labels; pools also by place, since a
    pool says where its numbers are (a tag's numbers may be in several places)."""
    keyed: dict[tuple, list[OwnedNumber]] = defaultdict(list)
    for n in sorted(numbers, key=lambda n: n.number):
        app = apps.get(n.app_id, n.app_id) if n.app_id else None
        labels = tuple(sorted((n.labels or {}).items()))
        place = (n.country, n.number_type, n.region) if pools else None
        if n.tag:
            keyed[(_slug(n.tag), app, labels, place)].append(n)
        else:
            town = n.region.split(",")[0] if pools and n.region else ""
            base = _slug(
                f"{provider}-{n.country or 'xx'}-{n.number_type or 'number'}"
                + (f"-{town}" if town else "")
                + (f"-{app}" if app else "")
            )
            keyed[(base, app, labels, place)].append(n)
    groups: dict[str, list[OwnedNumber]] = {}
    used = set(taken)
    for (base, *_), members in keyed.items():
        name, i = base, 2
        while name in used:
            name, i = f"{base}-{i}", i + 1
        used.add(name)
        groups[name] = members
    return groups


def _entry(
    provider: str, numbers: list[OwnedNumber], apps: dict[str, str], caps: Capabilities
) -> dict:
    """A pinned declaration: every number listed."""
    first = numbers[0]
    entry: dict = {"provider": provider, "numbers": [n.number for n in numbers]}
    return _common(entry, first, apps, caps)


def _poolable(first: OwnedNumber, caps: Capabilities) -> bool:
    """A quantity needs a country, and a type the provider sells (written, or the default)."""
    return bool(first.country) and (first.number_type or DEFAULT_NUMBER_TYPE) in caps.number_types


def _pool(
    provider: str, numbers: list[OwnedNumber], apps: dict[str, str], caps: Capabilities
) -> dict:
    """A quantity declaration where the group's numbers are; the state names its members.
    Only what a plan could buy with is written: a type or region the provider cannot search
    by stays out (its numbers are still this declaration's, by the state)."""
    first = numbers[0]
    entry: dict = {"provider": provider, "quantity": len(numbers)}
    if first.country:
        entry["country"] = first.country
    if first.number_type:
        entry["type"] = first.number_type
    if first.region and caps.region_filter:
        entry["region"] = first.region
    return _common(entry, first, apps, caps)


def _checked_pool(cls: type[Provider], name: str, entry: dict) -> dict:
    """The pool, or without its type when the provider's own checks refuse it: the state
    names its numbers all the same, and the user adds what is missing to buy more. (What
    only a purchase needs, such as Aculab's toll-free call kinds, is asked by the plan that
    buys, so a toll-free pool keeps its type.)"""
    declaration = Declaration(
        name,
        entry["provider"],
        entry["quantity"],
        country=entry.get("country"),
        number_type=entry.get("type", DEFAULT_NUMBER_TYPE),
        region=entry.get("region"),
    )
    if cls.validate_declaration(declaration) and "type" in entry:
        return {k: v for k, v in entry.items() if k != "type"}
    return entry


def _common(entry: dict, first: OwnedNumber, apps: dict[str, str], caps: Capabilities) -> dict:
    if first.app_id:
        entry["app"] = apps.get(first.app_id, first.app_id)
    if caps.native_labels and first.labels:
        entry["labels"] = dict(first.labels)
    return entry


def _yaml_block(entries: dict[str, dict], flow: bool = True) -> str:
    """The entries as YAML under `numbers:`: pinned lists wrapped in brackets (a line holds
    several numbers), pools as plain blocks (a line per field)."""
    if not entries:
        return ""
    style = None if flow else False
    body = yaml.safe_dump(entries, sort_keys=False, default_flow_style=style, allow_unicode=True)
    return "".join(f"  {line}\n" if line else "\n" for line in body.splitlines())


def _append_to_config(path: Path, block: str) -> None:
    """Append entries under `numbers:`, keeping the file's text and comments as they are."""
    original = path.read_text(encoding="utf-8")
    root = yaml.compose(original)
    numbers_node = None
    last_key = None
    if root is not None and isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            last_key = key.value
            if key.value == "numbers":
                numbers_node = value
    text = original if original.endswith("\n") else original + "\n"
    if numbers_node is None:
        text += "numbers:\n" + block
    elif _is_empty_flow(numbers_node) and last_key == "numbers":
        # `numbers: {}  # a comment` and comment lines after it stay where they were
        end = numbers_node.end_mark.index
        line_end = original.find("\n", end)
        line_end = len(original) if line_end == -1 else line_end
        comment = original[end:line_end].rstrip()
        text = (
            original[: numbers_node.start_mark.index].rstrip(" ")
            + comment
            + "\n"
            + block
            + original[line_end + 1 :]
        )
    elif last_key != "numbers" or getattr(numbers_node, "flow_style", False):
        raise NumbersIacError(
            f"cannot append to {path}: `numbers:` must be the last block mapping of the file; "
            "move it to the end, or use `import --print` and paste the output. Nothing was changed."
        )
    else:
        if isinstance(numbers_node, yaml.MappingNode) and numbers_node.value:
            indent = numbers_node.value[0][0].start_mark.column
            if indent != 2:
                block = "".join(
                    " " * indent + line[2:] if line.startswith("  ") else line
                    for line in block.splitlines(keepends=True)
                )
        elif isinstance(numbers_node, yaml.ScalarNode) and numbers_node.value:
            raise NumbersIacError(f"cannot append to {path}: `numbers:` is not a mapping")
        text += block
    _replace_validated(path, text)


def _is_empty_flow(node: yaml.Node) -> bool:
    """`numbers: {}` or a bare `numbers:`, which a block of entries can replace."""
    return isinstance(node, yaml.MappingNode) and node.flow_style and not node.value


def _replace_validated(path: Path, text: str) -> None:
    """Write `text` over `path` only if it loads: the problems of a file that would not
    are told of `path` (the temporary file is gone by the time anyone reads them)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".import-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        try:
            load_config(tmp, providers_on_use=True)
        except ConfigError as exc:
            raise ConfigError(
                [
                    replace(
                        problem,
                        file=str(path),
                        message=f"{problem.message} (in what "
                        "import would write; nothing was changed)",
                    )
                    for problem in exc.problems
                ]
            ) from None
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
