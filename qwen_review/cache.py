"""Content-addressed store of validated model answers, so a re-run over an unchanged diff calls no model."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qwen_review.review import Message

CACHE_ENV = "QWEN_REVIEW_CACHE_DIR"
_FORMAT = "qwen-review/answer@1"


def cache_key(model: str, messages: Sequence[Message]) -> str:
    """SHA-256 over the model name and the exact rendered messages (template, language and instructions are in them)."""
    canonical = json.dumps({"format": _FORMAT, "model": model,
                            "messages": [[m.role, m.content] for m in messages]},
                           ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def default_cache_dir() -> Path:
    """`QWEN_REVIEW_CACHE_DIR`, else the platform's user cache directory for qwen-review."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("qwen-review", appauthor=False)) / "answers"


class AnswerCache:
    """Answers stored as `<dir>/<key[:2]>/<key>.json`; any I/O problem is a cache miss, never an error."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory if directory is not None else default_cache_dir()
        self.enabled = True  # turned off after a failed write so a read-only dir costs one attempt

    def _path(self, key: str) -> Path:
        if len(key) < 3 or not key.isalnum():
            raise ValueError("cache keys are hex digests")  # never let a key escape the directory
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> str | None:
        """The stored answer text, or None when absent, unreadable or corrupt."""
        try:
            data = json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("format") != _FORMAT or data.get("key") != key:
            return None
        text = data.get("text")
        return text if isinstance(text, str) else None

    def put(self, key: str, text: str) -> None:
        """Store atomically (temp file in the same dir, then os.replace); an unwritable dir disables the cache."""
        if not self.enabled:
            return
        path = self._path(key)
        payload = json.dumps({"format": _FORMAT, "key": key, "text": text}, ensure_ascii=False)
        tmp_name: str | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(payload)
            os.replace(tmp_name, path)
            tmp_name = None
        except OSError:
            self.enabled = False
        finally:
            if tmp_name is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp_name)
