"""JSON files that carry the SHA-256 of their own content, for what the cache derives (indexes).

``seal(body)`` is the JSON text of ``body`` with ``digest``: the SHA-256 of
``body`` as canonical JSON (keys sorted, no spaces). ``unseal(raw)`` gives
the body back only if the text is JSON, an object, and its digest is of the
rest: a file that was cut short, edited or damaged is refused, never read.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

DIGEST_KEY = "digest"


def digest_of(body: dict[str, Any]) -> str:
    """The SHA-256 of ``body`` as canonical JSON (keys sorted, no spaces)."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def seal(body: dict[str, Any]) -> str:
    """``body`` as JSON text, with its ``digest``."""
    return json.dumps({**body, DIGEST_KEY: digest_of(body)}, separators=(",", ":"))


def unseal(raw: bytes) -> dict[str, Any]:
    """The body of a sealed text, without its ``digest``.

    ``ValueError`` saying what it is instead: not JSON (truncated, not text,
    nested too deeply to read), a JSON value that is not an object, or an
    object whose digest is not of the rest (its content changed, or was cut short).
    """
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # a UnicodeDecodeError is a ValueError
        raise ValueError(f"is not JSON as saved ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise ValueError(f"is a JSON {type(data).__name__}, not an object")
    body = {name: value for name, value in data.items() if name != DIGEST_KEY}
    try:
        intact = data.get(DIGEST_KEY) == digest_of(body)
    except (TypeError, ValueError, RecursionError):
        intact = False
    if not intact:
        raise ValueError("fails its own digest (its content changed, or was cut short)")
    return body
