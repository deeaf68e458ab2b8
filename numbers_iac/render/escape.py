"""Text from users and providers, made safe to show: in a terminal and in Markdown.

An app name, alias, label or error text a provider sends can carry ESC sequences that erase
plan lines or retitle the terminal, carriage returns that overwrite a line, newlines that
forge one, and Markdown that forges a checked box in a pull-request comment. Every renderer
passes such text through one of these functions; the loader refuses the same characters in
what users write (`numbers_iac.config.text_checks`), using `first_control` from here.
"""

from __future__ import annotations

import html
import re
import unicodedata

#: C0 (tab, CR and LF included), DEL, C1, line and paragraph separators, and the bidi
#: embeddings, overrides and isolates that reorder what a reader sees
#: control characters, line separators, bidi controls and invisible format characters
#: (zero-width spaces and joiners, word joiner, BOM): two names that print alike must not look
#: alike
CONTROL = re.compile(
    "[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_ABBREVIATIONS = {
    "\x00": "NUL",
    "\x07": "BEL",
    "\x08": "BS",
    "\t": "TAB",
    "\n": "LF",
    "\r": "CR",
    "\x1b": "ESC",
    "\x7f": "DEL",
    "\x9b": "CSI",
}

#: Markdown punctuation that makes markup anywhere in a line (`>` only at the start: an
#: arrow such as "a -> b" stays readable)
_MARKUP = str.maketrans({c: "\\" + c for c in "\\`*_[]<|#&~"})
#: what may open a block where the text starts (a list item, a quote, a thematic break;
#: headings and fences start with `#`, `` ` `` or `~`, escaped everywhere)
_BLOCK_START = re.compile(r"^(?:[-+](?=[\s-]|$)|[>=]|\d{1,9}[.)](?=\s|$))")


def first_control(text: str) -> str | None:
    """The first control character in `text`, or None."""
    match = CONTROL.search(text)
    return match.group() if match else None


def describe_control(char: str) -> str:
    """`U+001B (ESC)`: a control character named without printing it."""
    name = _ABBREVIATIONS.get(char) or unicodedata.name(char, "")
    return f"U+{ord(char):04X}" + (f" ({name})" if name else "")


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def for_terminal(text: str) -> str:
    """Control characters as visible escapes (`\\x1b`, `\\n`), all else as is: one line,
    nothing the terminal acts on. Escaping twice changes nothing more."""
    return CONTROL.sub(_visible, text)


def for_markdown(text: str) -> str:
    """Text for a Markdown line after a list marker or in a table cell: one line (see
    `for_terminal`), no markup, no HTML, and nothing that opens a block where it starts."""
    escaped = for_terminal(text).translate(_MARKUP)
    escaped = _BLOCK_START.sub(lambda m: _escape_block_start(m.group()), escaped, count=1)
    stripped = escaped.lstrip(" ")
    return "&#32;" * (len(escaped) - len(stripped)) + stripped


def _escape_block_start(marker: str) -> str:
    # "1." opens an ordered list: the period (or parenthesis) after the digits is escaped
    return f"{marker[:-1]}\\{marker[-1]}"


def for_markdown_code(text: str) -> str:
    """`+33...` as a code span when it can be one, else as escaped text: a code span shows
    backslashes literally, so text that would need one is not put in a span."""
    shown = for_terminal(text)
    if "`" in shown or "|" in shown or "\\" in shown or not shown.strip():
        return for_markdown(text)
    return f"`{shown}`"


def for_html(text: str) -> str:
    """Text inside an HTML block (`<summary>`), where Markdown escapes show literally."""
    return html.escape(for_terminal(text), quote=False)
