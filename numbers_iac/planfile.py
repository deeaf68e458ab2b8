"""Saved plans: `numbers-iac plan -out plan.json` writes one, `apply plan.json` reads it back.

The file is versioned (`format_version`), validated against `schemas/plan.schema.json` on
load, and holds only what the plan itself holds: numbers, declaration names, digests. Provider
settings (where credentials live) are never part of a `Plan`, so they cannot leak into a file
that ends up attached to a pull request.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match

from numbers_iac.config.files import UnreadableFileError, read_bounded
from numbers_iac.errors import PlanFileError
from numbers_iac.model import (
    ACTION_TYPES,
    GuardTrip,
    Misplaced,
    Missing,
    PendingNote,
    Plan,
    Purchase,
    QuarantineNote,
    Unmanaged,
    action_from_dict,
    amount_text,
)

FORMAT_VERSION = 1
SCHEMA_NAME = "plan.schema.json"
#: a plan releasing 100,000 numbers takes about 26 MB; `apply /dev/zero` must not fill memory
MAX_PLAN_BYTES = 128 * 1024 * 1024


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    """The plan as plain JSON data, plus a computed `summary` for tools that only skim it."""
    return {
        "format_version": FORMAT_VERSION,
        "created_at": plan.created_at,
        "config_path": plan.config_path,
        "config_digest": plan.config_digest,
        "fingerprints": dict(sorted(plan.fingerprints.items())),
        "state_fingerprint": plan.state_fingerprint,
        "targets": list(plan.targets),
        "replaced": list(plan.replaced),
        "accepted": list(plan.accepted),
        "ambiguous_moves": {old: list(news) for old, news in plan.ambiguous_moves.items()},
        "unmovable": dict(plan.unmovable),
        "actions": [action.to_dict() for action in plan.actions],
        "pending": [
            {
                "provider": note.provider,
                "declaration": note.declaration,
                "count": note.count,
                "numbers": list(note.numbers),
                "reason": note.reason,
                "age_seconds": note.age_seconds,
            }
            for note in plan.pending
        ],
        "unmanaged": [
            {
                "provider": item.provider,
                "number": item.number,
                "monthly": None if item.monthly is None else amount_text(item.monthly),
                "currency": item.currency,
            }
            for item in plan.unmanaged
        ],
        "warnings": list(plan.warnings),
        "missing": [
            {"provider": m.provider, "declaration": m.declaration, "number": m.number}
            for m in plan.missing
        ],
        "misplaced": [
            {
                "provider": m.provider,
                "declaration": m.declaration,
                "number": m.number,
                "field": m.field,
            }
            for m in plan.misplaced
        ],
        "quarantined": [
            {
                "provider": note.provider,
                "declaration": note.declaration,
                "number": note.number,
                "until": note.until,
                "monthly": None if note.monthly is None else amount_text(note.monthly),
                "currency": note.currency,
            }
            for note in plan.quarantined
        ],
        "guards": [
            {
                "guard": trip.guard,
                "limit": trip.limit,
                "figure": trip.figure,
                "provider": trip.provider,
                "blocking": trip.blocking,
                "message": trip.message,
                "overridden_by": trip.overridden_by,
            }
            for trip in plan.guards
        ],
        "summary": _summary(plan),
    }


def _summary(plan: Plan) -> dict[str, Any]:
    counts = dict.fromkeys(ACTION_TYPES, 0)
    for action in plan.actions:
        counts[action.kind] += 1
    cost = plan.cost()
    return {
        "actions": counts,
        "numbers_to_purchase": sum(a.count for a in plan.actions if isinstance(a, Purchase)),
        "pending_numbers": sum(note.count for note in plan.pending),
        "unmanaged_numbers": len(plan.unmanaged),
        "missing_numbers": len(plan.missing),
        "misplaced_numbers": len(plan.misplaced),
        "quarantined_numbers": len(plan.quarantined),
        "cost": {
            "setup": {cur: amount_text(amount) for cur, amount in sorted(cost.setup.items())},
            "monthly": {cur: amount_text(amount) for cur, amount in sorted(cost.monthly.items())},
            "unpriced": cost.unpriced,
        },
    }


def plan_from_dict(data: Mapping[str, Any]) -> Plan:
    """Rebuild a plan from `plan_to_dict` output. Expects validated data; `summary` is ignored
    because it is derived from the actions and would only be a second source of truth."""
    return Plan(
        actions=tuple(action_from_dict(item) for item in data["actions"]),
        pending=tuple(
            PendingNote(
                provider=item["provider"],
                declaration=item["declaration"],
                count=item["count"],
                numbers=tuple(item.get("numbers", ())),
                reason=item.get("reason", "pending"),
                age_seconds=item.get("age_seconds"),
            )
            for item in data.get("pending", ())
        ),
        unmanaged=tuple(
            Unmanaged(
                provider=item["provider"],
                number=item["number"],
                monthly=None if item.get("monthly") is None else Decimal(item["monthly"]),
                currency=item.get("currency", "USD"),
            )
            for item in data.get("unmanaged", ())
        ),
        warnings=tuple(data.get("warnings", ())),
        replaced=tuple(data.get("replaced", ())),
        accepted=tuple(data.get("accepted", ())),
        unmovable=dict(data.get("unmovable") or {}),
        ambiguous_moves={
            old: tuple(news) for old, news in (data.get("ambiguous_moves") or {}).items()
        },
        missing=tuple(
            Missing(item["provider"], item["declaration"], item["number"])
            for item in data.get("missing", ())
        ),
        misplaced=tuple(
            Misplaced(item["provider"], item["declaration"], item["number"], item["field"])
            for item in data.get("misplaced", ())
        ),
        fingerprints=dict(data.get("fingerprints", {})),
        state_digest=data.get("state_fingerprint", ""),
        config_digest=data.get("config_digest", ""),
        config_path=data.get("config_path", ""),
        targets=tuple(data.get("targets", ())),
        created_at=data.get("created_at", ""),
        quarantined=tuple(
            QuarantineNote(
                item["provider"],
                item["declaration"],
                item["number"],
                item["until"],
                None if item.get("monthly") is None else Decimal(item["monthly"]),
                item.get("currency", "USD"),
            )
            for item in data.get("quarantined", ())
        ),
        # what the plan went over when it was made; apply holds it to the limits of its own run
        guards=tuple(
            GuardTrip(
                item["guard"],
                item["limit"],
                item["figure"],
                item["message"],
                item.get("provider"),
                item.get("blocking", True),
                item.get("overridden_by"),
            )
            for item in data.get("guards", ())
        ),
    )


def dumps(plan: Plan) -> str:
    """The plan file's text: indented so a diff or a reviewer can read it."""
    return json.dumps(plan_to_dict(plan), indent=2, ensure_ascii=False) + "\n"


def save(plan: Plan, path: str | os.PathLike[str]) -> None:
    """Write the plan file atomically: readers see the old file or the new one, never half."""
    target = Path(path)
    text = dumps(plan)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise PlanFileError(f"cannot write plan file {target}: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates 0600; a plan holds no secrets and CI jobs often hand it to another user.
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, target)
    except OSError as exc:
        Path(tmp_name).unlink(missing_ok=True)
        raise PlanFileError(f"cannot write plan file {target}: {exc.strerror}") from exc
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def load(path: str | os.PathLike[str]) -> Plan:
    """Read, check and rebuild a saved plan; every failure is a one-line `PlanFileError`."""
    source = Path(path)
    data = _read_json(source)
    _check_version(source, data)
    try:
        error = best_match(_validator().iter_errors(data))
    except RecursionError:  # nesting the parser took but the validator cannot walk
        raise PlanFileError(
            f"plan file {source} is not a numbers-iac plan: its values are nested too deeply "
            "to check"
        ) from None
    if error is not None:
        raise PlanFileError(f"plan file {source} is invalid: {_describe(error)}")
    try:
        return plan_from_dict(data)
    except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
        raise PlanFileError(f"plan file {source} is invalid: {exc}") from exc


def _read_json(source: Path) -> Any:
    """The file's JSON, read like a configuration is (`read_bounded`): `apply /dev/zero`, a
    directory or a named pipe is refused rather than read forever, and nesting too deep for
    the parser is one error line, not a crash."""
    try:
        raw = read_bounded(source, MAX_PLAN_BYTES)
    except UnreadableFileError as exc:
        if exc.problem == "too-large":
            raise PlanFileError(
                f"plan file {source} {exc}, the most a saved plan may be (a plan releasing "
                "100,000 numbers takes about 26 MB)"
            ) from None
        hint = (
            ": a saved plan is the JSON file `plan -out` writes"
            if exc.problem == "not-regular"
            else ""
        )
        raise PlanFileError(f"plan file {source} {exc}{hint}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PlanFileError(f"plan file {source} is not JSON (it is not even UTF-8 text)") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanFileError(
            f"plan file {source} is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from exc
    except RecursionError:
        raise PlanFileError(
            f"plan file {source} is not a numbers-iac plan: its values are nested too deeply "
            "to read"
        ) from None


def _check_version(source: Path, data: Any) -> None:
    """Checked before the schema so an old or newer file says so instead of listing fields."""
    if not isinstance(data, dict) or "format_version" not in data:
        raise PlanFileError(
            f"plan file {source} is not a numbers-iac plan (no format_version field)"
        )
    version = data["format_version"]
    if type(version) is not int:
        raise PlanFileError(
            f"plan file {source} has an unreadable format_version {version!r} (expected 1)"
        )
    if version != FORMAT_VERSION:
        age = "a newer" if version > FORMAT_VERSION else "an older"
        raise PlanFileError(
            f"plan file {source} has unsupported format_version {version}, written by {age} "
            f"numbers-iac; this version reads format_version {FORMAT_VERSION}. "
            "Run `numbers-iac plan` again to make a new plan."
        )


def _describe(error: jsonschema.ValidationError) -> str:
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = next((k for k in error.validator_value if k not in error.instance), "?")
        return f"field {(where + '.' + missing).lstrip('.')} is missing"
    message = error.message if len(error.message) <= 160 else error.message[:157] + "..."
    return f"field {where.lstrip('.') or '(top level)'}: {message}"


def load_schema() -> dict[str, Any]:
    """The plan schema, from the installed package or, in a source checkout, the repo."""
    packaged = resources.files("numbers_iac") / "schemas" / SCHEMA_NAME
    try:
        return json.loads(packaged.read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError):
        fallback = Path(__file__).resolve().parent.parent / "schemas" / SCHEMA_NAME
        return json.loads(fallback.read_text(encoding="utf-8"))


def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(load_schema())
