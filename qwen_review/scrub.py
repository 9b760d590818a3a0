"""Blank out tokens and keys in a message before it is shown, logged or annotated."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

REDACTED = "[REDACTED]"
MIN_LENGTH = 4  # a shorter value would garble every message it occurs in, and no real credential is that short


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with each of `secrets` replaced by [REDACTED], longest first so no part of one survives."""
    for secret in sorted({s for s in secrets if s and len(s) >= MIN_LENGTH}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def public_url(url: str) -> str:
    """`url` as a report or a log may show it: without user name and password, query or fragment.

    A gateway's URL can carry its credentials (`https://user:pass@host/v1`, `?key=...`), and
    JSON reports and CI logs are often uploaded as artifacts.
    """
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))
