"""Plan -> JSON: exactly the saved plan file format, so `plan -format json` can be applied."""

from __future__ import annotations

from numbers_iac import planfile
from numbers_iac.model import Plan


def render_json(plan: Plan) -> str:
    """The plan file's text (see `numbers_iac.planfile` and `schemas/plan.schema.json`)."""
    return planfile.dumps(plan)
