"""A declaration whose place changed after it bought: the plan says its numbers no longer
fit, instead of "No changes" (numbers-iac never swaps numbers on its own)."""

from __future__ import annotations

import json
import re
from dataclasses import replace

from numbers_iac.model import SourceRef
from tests import test_planner as planned
from tests.test_cli import run, write_config

HEADER = "version: 1\nproviders:\n  lab:\n    type: sandbox\nnumbers:\n"


def declare(tmp_path, body: str) -> None:
    write_config(tmp_path, text=HEADER + body)


def plan_output(tmp_path) -> tuple[int, str]:
    result = run(tmp_path, "plan", "--detailed-exitcode")
    return result.returncode, result.stdout + result.stderr


def saved_and_markdown(tmp_path) -> tuple[dict, str]:
    """The plan saved with -out (as JSON) and the plan as Markdown."""
    saved = run(tmp_path, "plan", "-out", "p.json")
    assert saved.returncode == 0, saved.stderr
    markdown = run(tmp_path, "plan", "--format", "markdown").stdout
    return json.loads((tmp_path / "p.json").read_text()), markdown


def applied_without_warnings(tmp_path, body: str) -> str:
    """Declare, apply, and check the plan after it is clean; the apply's output."""
    declare(tmp_path, body)
    applied = run(tmp_path, "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    code, output = plan_output(tmp_path)
    assert code == 0 and "never swaps" not in output, output
    return applied.stdout


def test_a_changed_type_prefix_or_country_is_warned_about_not_hidden(tmp_path):
    applied_without_warnings(
        tmp_path, '  a:\n    provider: lab\n    country: FR\n    prefix: "322"\n    quantity: 2\n'
    )

    declare(
        tmp_path, "  a:\n    provider: lab\n    country: FR\n    type: mobile\n    quantity: 2\n"
    )
    code, output = plan_output(tmp_path)
    assert code == 0, output
    assert re.search(
        r"lab / a declares type mobile but holds 2 numbers of another type \(\+33322", output
    )
    assert "Your numbers match" not in output
    assert (
        "No changes to apply, but 2 numbers no longer fit their declaration's country, type "
        "or prefix (see the warnings; never swapped for others)."
    ) in output
    plan, markdown = saved_and_markdown(tmp_path)
    assert [(m["declaration"], m["field"]) for m in plan["misplaced"]] == [("a", "type")] * 2
    assert plan["summary"]["misplaced_numbers"] == 2
    assert "| Numbers outside their declaration's place or type | 2 |" in markdown

    declare(
        tmp_path, '  a:\n    provider: lab\n    country: FR\n    prefix: "1"\n    quantity: 2\n'
    )
    code, output = plan_output(tmp_path)
    assert "lab / a declares prefix 1 but holds 2 numbers outside it" in output

    declare(tmp_path, "  a:\n    provider: lab\n    country: DE\n    quantity: 2\n")
    code, output = plan_output(tmp_path)
    assert "lab / a declares country DE but holds 2 numbers of another country" in output

    drift = run(tmp_path, "drift")
    assert "lab / a declares country DE" in drift.stdout + drift.stderr


def test_a_protected_declaration_holding_more_than_its_quantity_does_not_read_as_matching(
    tmp_path,
):
    """Quantity 3 lowered to 1 under protect: nothing is released, and the plan says the
    account holds 2 more than declared instead of "Your numbers match the configuration"."""
    applied_without_warnings(
        tmp_path, "  a:\n    provider: lab\n    country: FR\n    quantity: 3\n    protect: true\n"
    )
    declare(
        tmp_path, "  a:\n    provider: lab\n    country: FR\n    quantity: 1\n    protect: true\n"
    )
    code, output = plan_output(tmp_path)
    assert code == 0, output
    assert "Your numbers match" not in output
    assert (
        "No changes to apply, but 2 protected numbers are held beyond their declaration's "
        "quantity (see the warnings; never released)."
    ) in output
    plan, markdown = saved_and_markdown(tmp_path)
    assert [(m["declaration"], m["field"]) for m in plan["misplaced"]] == [("a", "quantity")] * 2
    assert "| Protected numbers beyond their quantity (kept) | 2 |" in markdown
    applied = run(tmp_path, "apply", "p.json", "--allow-release")
    assert applied.returncode == 0, applied.stdout + applied.stderr

    # its country changed too: each of the 3 numbers is counted once
    declare(
        tmp_path, "  a:\n    provider: lab\n    country: DE\n    quantity: 1\n    protect: true\n"
    )
    plan, _ = saved_and_markdown(tmp_path)
    assert len(plan["misplaced"]) == plan["summary"]["misplaced_numbers"] == 3
    code, output = plan_output(tmp_path)
    assert "this declaration is protected: pin the ones to keep, or take protect off" in output


def test_numbers_that_fit_or_a_type_left_unwritten_are_not_warned_about(tmp_path):
    """Mobile numbers under a declaration that writes no type (as `import --pinned` writes
    them) are not taken for numbers of the default type."""
    applied = applied_without_warnings(
        tmp_path, "  m:\n    provider: lab\n    country: FR\n    type: mobile\n    quantity: 2\n"
    )
    bought = sorted(set(re.findall(r"\+336\d{8}", applied)))
    assert len(bought) == 2, applied
    declare(tmp_path, f"  m:\n    provider: lab\n    numbers: {json.dumps(bought)}\n")
    code, output = plan_output(tmp_path)
    assert code == 0 and "never swaps" not in output, output


def test_a_toll_free_number_of_a_shared_calling_code_fits_either_country():
    """+1 833 numbers are listed as US by their digits (the NANP shares +1): a CA toll-free
    declaration holding them is not told they are of another country."""
    from dataclasses import replace

    from tests.test_planner import decl, desired, owned, record
    from tests.test_planner import run as plan

    tollfree = [
        replace(owned(n), country="US", number_type="tollfree")
        for n in ("+18335550100", "+18335550101")
    ]
    d = desired(decl("support", country="CA", number_type="tollfree", quantity=2))
    p = plan(d, tollfree, [record(n.number) for n in tollfree])
    assert not any("another country" in w for w in p.warnings), p.warnings
    geo = [replace(owned("+14155550100"), country="US", number_type="local")]
    d = desired(decl("support", country="CA", quantity=1))
    p = plan(d, geo, [record(geo[0].number)])
    assert any("declares country CA but holds 1 number of another country" in w for w in p.warnings)


def test_a_type_the_listing_leaves_open_is_read_from_the_digits():
    """Plivo lists a landline as `fixed` (local or national: no type for us). A declaration
    changed to `type: mobile` or `tollfree` holding landlines is warned about as on every
    provider. A North American landline's digits say only that it is no toll-free number:
    warned about under `tollfree`, not under `mobile`."""
    typed = {"number_type": SourceRef("numbers.yaml", 5, 11)}
    landlines = [
        replace(planned.owned(n), number_type=None) for n in ("+33322000001", "+33322000002")
    ]
    held = [planned.record(n.number) for n in landlines]
    for kind in ("mobile", "tollfree"):
        plan = planned.run(
            planned.desired(planned.decl(number_type=kind, field_sources=typed)), landlines, held
        )
        assert any(
            f"declares type {kind} but holds 2 numbers of another type" in w for w in plan.warnings
        ), plan.warnings
    local = planned.run(
        planned.desired(planned.decl(number_type="local", field_sources=typed)), landlines, held
    )
    assert not any("another type" in w for w in local.warnings)
    american = [replace(planned.owned("+14154009186"), country="US", number_type=None)]
    for kind, warned in (("mobile", False), ("tollfree", True)):
        us = planned.decl(country="US", number_type=kind, quantity=1, field_sources=typed)
        plan = planned.run(planned.desired(us), american, [planned.record("+14154009186")])
        assert any("another type" in w for w in plan.warnings) is warned, (kind, plan.warnings)
    toll_free = [replace(planned.owned("+18005550100"), country="US", number_type=None)]
    us = planned.decl(country="US", number_type="tollfree", quantity=1, field_sources=typed)
    plan = planned.run(planned.desired(us), toll_free, [planned.record("+18005550100")])
    assert not any("another type" in w for w in plan.warnings), plan.warnings


def test_a_pinned_number_of_another_type_is_said_before_it_is_bought():
    """`numbers: ["+44 20 7946 0000"]` under `type: mobile`: a London landline. The plan that
    buys it says so (the plans after it would, once it is held); a pinned mobile does not."""
    typed = {"number_type": SourceRef("numbers.yaml", 5, 11)}
    landline, mobile = "+442079460000", "+447700900123"
    said = {}
    for pin in (landline, mobile):
        d = planned.decl(
            "b", country="GB", number_type="mobile", quantity=1, pinned=(pin,), field_sources=typed
        )
        plan = planned.run(planned.desired(d))
        assert [a.kind for a in plan.actions] == ["purchase"]
        said[pin] = [w for w in plan.warnings if "pins" in w]
    assert said[mobile] == []
    assert said[landline] == [
        f"lab / b declares type mobile but pins 1 number of another type by its digits "
        f"({landline}): apply would buy it all the same; check the number or the "
        "declaration's type"
    ]
    held = [replace(planned.owned(landline), country="GB", number_type=None)]
    d = planned.decl(
        "b", country="GB", number_type="mobile", quantity=1, pinned=(landline,), field_sources=typed
    )
    plan = planned.run(planned.desired(d), held, [planned.record(landline, declaration="b")])
    assert [m.number for m in plan.misplaced] == [landline]
    assert any(
        w.endswith("it is pinned: write the type it has, or take it out of `numbers:` to let it go")
        for w in plan.warnings
    ), plan.warnings
