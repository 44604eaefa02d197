"""Text for the cell browser's Markdown panes: values and errors shown as written, never as HTML or Markdown."""

from __future__ import annotations

import html
import re
from typing import Any

_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()#+\-.!|~:<>])")


def markdown_text(value: Any) -> str:
    """``value`` as text that a Markdown pane shows as written: on one line, HTML escaped, Markdown's marks
    backslashed (no heading, emphasis, link, autolink or raw HTML can come of it)."""
    one_line = " ".join(str(value).split())
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", html.escape(one_line, quote=False))


def error_text(exc: BaseException) -> str:
    """An error as the page shows it: its kind and message, as text (see ``markdown_text``)."""
    return markdown_text(f"{type(exc).__name__}: {exc}")
