"""A declaration whose place changed after it bought: the plan says its numbers no longer
fit, instead of "No changes" (numbers-iac never swaps numbers on its own)."""

from __future__ import annotations

import json
import re

from tests.test_cli import run, write_config

HEADER = "version: 1\nproviders:\n  lab:\n    type: sandbox\nnumbers:\n"


def declare(tmp_path, body: str) -> None:
    write_config(tmp_path, text=HEADER + body)


def plan_output(tmp_path) -> tuple[int, str]:
    result = run(tmp_path, "plan", "--detailed-exitcode")
    return result.returncode, result.stdout + result.stderr


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
