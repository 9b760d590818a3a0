"""Blank out tokens and keys in a message before it is shown, logged or annotated."""

from __future__ import annotations

from collections.abc import Iterable

REDACTED = "[REDACTED]"
MIN_LENGTH = 4  # a shorter value would garble every message it occurs in, and no real credential is that short


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with each of `secrets` replaced by [REDACTED], longest first so no part of one survives."""
    for secret in sorted({s for s in secrets if s and len(s) >= MIN_LENGTH}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text
