"""Renderers turn a Plan into text and do nothing else: no I/O, no decisions."""

from __future__ import annotations

from numbers_iac.model import Plan
from numbers_iac.render.json import render_json
from numbers_iac.render.markdown import render_markdown
from numbers_iac.render.text import render_text

FORMATS = ("text", "markdown", "json")


def render(
    plan: Plan,
    fmt: str,
    color: bool = False,
    plan_file: str | None = None,
    cwd: str | None = None,
) -> str:
    """Render `plan` as `fmt` (one of `FORMATS`). `color` only affects the text format;
    `plan_file` (the saved plan, when `plan -out` wrote one) and `cwd` (paths are shown
    relative to it) only the Markdown format."""
    if fmt == "text":
        return render_text(plan, color=color)
    if fmt == "markdown":
        return render_markdown(plan, plan_file=plan_file, cwd=cwd)
    if fmt == "json":
        return render_json(plan)
    raise ValueError(f"unknown plan format {fmt!r}; expected one of {', '.join(FORMATS)}")


__all__ = ["FORMATS", "render", "render_json", "render_markdown", "render_text"]
