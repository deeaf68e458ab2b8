"""Guard rails: the `safety:` limits a plan is held to, as octoDNS holds a plan to its update
and delete thresholds, but at every size and counting purchases and money too.

Pure: a plan, the limits and what the state manages in, the limits it goes over out. `plan`
shows them (so a reviewer sees them in the pull request) and `apply` refuses them (exit 3)
before anything changes; the CLI's `--max-releases N` and its siblings override the
configured limits for one run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import replace
from decimal import ROUND_CEILING, Decimal

from numbers_iac.model import Adopt, Desired, GuardTrip, ManagedNumber, Move, Plan, Safety
from numbers_iac.render.text import format_money
from numbers_iac.words import plural

#: each guard's command-line override, for the sentence that says how to get past it
FLAGS = {
    "max_purchases": "--max-purchases",
    "max_releases": "--max-releases",
    "max_release_percent": "--max-release-percent",
    "max_monthly_increase": "--max-monthly-increase",
}


def overridden(safety: Safety, **limits: int | Decimal | None) -> Safety:
    """`safety` with the limits given for one run (None: as configured)."""
    given = {name: value for name, value in limits.items() if value is not None}
    return replace(safety, **given)


def overridden_trips(
    plan: Plan, desired: Desired, managed: Mapping[tuple[str, str], ManagedNumber]
) -> tuple[GuardTrip, ...]:
    """The limits of the `safety:` block the plan goes over that this run's command line
    raised past: shown, never refused, so that a reviewer sees a guard rail was lifted, each
    with the flag that an apply of the saved plan needs too."""
    if desired.configured_safety is None:
        return ()
    still = {(t.guard, t.provider) for t in evaluate(plan, desired.safety, managed) if t.blocking}
    trips = []
    for trip in evaluate(plan, desired.configured_safety, managed):
        if not trip.blocking or (trip.guard, trip.provider) in still:
            continue
        value = getattr(desired.safety, trip.guard)
        flag = f"{FLAGS[trip.guard]} {_plain(value) if isinstance(value, Decimal) else value}"
        trips.append(
            replace(
                trip,
                message=f"{trip.message}, lifted by {flag} (an apply needs it too)",
                blocking=False,
                overridden_by=flag,
            )
        )
    return tuple(trips)


def evaluate(
    plan: Plan, safety: Safety, managed: Mapping[tuple[str, str], ManagedNumber]
) -> tuple[GuardTrip, ...]:
    """The limits `plan` goes over. `managed` is the state's record (provider, number) ->
    record: a provider's managed numbers are what `max_release_percent` counts against,
    with the numbers the plan itself starts managing."""
    trips: list[GuardTrip] = []
    purchases = sum(getattr(a, "count", 0) for a in plan.actions if a.kind == "purchase")
    if safety.max_purchases is not None and purchases > safety.max_purchases:
        trips.append(
            GuardTrip(
                "max_purchases",
                str(safety.max_purchases),
                str(purchases),
                f"the plan buys {plural(purchases, 'number')}: above max_purchases "
                f"{safety.max_purchases}",
            )
        )
    releases = plan.releases
    if safety.max_releases is not None and len(releases) > safety.max_releases:
        trips.append(
            GuardTrip(
                "max_releases",
                str(safety.max_releases),
                str(len(releases)),
                f"the plan releases {plural(len(releases), 'number')}: above max_releases "
                f"{safety.max_releases}",
            )
        )
    if safety.max_release_percent is not None:
        trips += _release_percent(plan, safety.max_release_percent, managed)
    if safety.max_monthly_increase is not None:
        trips += _monthly_increase(plan, safety.max_monthly_increase)
    return tuple(trips)


def _release_percent(
    plan: Plan, limit: Decimal, managed: Mapping[tuple[str, str], ManagedNumber]
) -> list[GuardTrip]:
    """Per provider, releases as a share of its managed numbers: one number of three is
    33%, however small the account (octoDNS skips zones under 10 records; we do not)."""
    released = Counter(r.provider for r in plan.releases)
    trips = []
    for provider, count in sorted(released.items()):
        numbers = {n for p, n in managed if p == provider}
        numbers |= {
            getattr(a, "number", "")
            for a in plan.actions
            if isinstance(a, Adopt | Move) and a.provider == provider
        }
        numbers |= {r.number for r in plan.releases if r.provider == provider}
        total = len(numbers)
        if count * 100 <= limit * total:
            continue
        share = _percent(count, total, limit)
        exact = (Decimal(count * 100) / Decimal(total)).quantize(Decimal("0.01"), ROUND_CEILING)
        trips.append(
            GuardTrip(
                "max_release_percent",
                _plain(limit),
                _plain(exact),
                f"the plan releases {plural(count, 'number')}, {share}% of {total:,} managed "
                f"on {provider}: above max_release_percent {_plain(limit)}",
                provider=provider,
            )
        )
    return trips


def _percent(count: int, total: int, limit: Decimal) -> str:
    """The share as a person reads it: whole percents, or one decimal when rounding would
    show it at or under the limit (10.3% over a limit of 10 must not read "10%")."""
    share = Decimal(count * 100) / Decimal(total)
    whole = share.quantize(Decimal(1))
    if whole > limit or share == whole:
        return str(whole)
    return str(share.quantize(Decimal("0.1")))


def _monthly_increase(plan: Plan, limit: Decimal) -> list[GuardTrip]:
    """The plan's net monthly change at its known prices, per currency; purchases of
    unknown price are said, never counted as free in silence."""
    cost = plan.cost()
    trips = []
    for currency, amount in sorted(cost.monthly.items()):
        if amount <= limit:
            continue
        figure = format_money(amount, currency, signed=True)
        trips.append(
            GuardTrip(
                "max_monthly_increase",
                _plain(limit),
                str(amount),
                f"the plan adds {figure}/month: above max_monthly_increase {_plain(limit)} "
                f"({currency})",
            )
        )
    if cost.unpriced:
        known = ", ".join(
            f"{format_money(amount, cur, signed=True)}/month"
            for cur, amount in sorted(cost.monthly.items())
        )
        trips.append(
            GuardTrip(
                "max_monthly_increase",
                _plain(limit),
                "unknown",
                f"{plural(cost.unpriced, 'number')} in the plan {'has' if cost.unpriced == 1 else 'have'} "
                f"no known price, so max_monthly_increase {_plain(limit)} checks only the known "
                f"prices ({known or 'none'}): the real increase may be higher",
                blocking=False,
            )
        )
    return trips


def refusal(trips: Iterable[GuardTrip]) -> list[str]:
    """One line per blocking trip, each saying what lets it through for one run; the last
    says nothing was changed."""
    lines = [
        f"refusing to apply: {trip.message}; to allow it for this run, pass "
        f"{FLAGS[trip.guard]} {_allowing(trip)} (or raise safety.{trip.guard} in the "
        "configuration)"
        for trip in trips
        if trip.blocking
    ]
    if lines:
        lines[-1] += ". Nothing was changed."
    return lines


def _allowing(trip: GuardTrip) -> str:
    """The smallest limit that lets the plan through: its own figure, a percent rounded up."""
    if trip.guard == "max_release_percent":
        return str(Decimal(trip.figure).to_integral_value(rounding=ROUND_CEILING))
    return trip.figure


def _plain(amount: Decimal) -> str:
    """`10`, `2.5`: a limit as it was written, without trailing zeros."""
    return f"{amount.normalize():f}"
