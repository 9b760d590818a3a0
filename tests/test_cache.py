"""The answer cache: stable keys, atomic fan-out storage, and every failure degrading to a miss."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qwen_review.cache import AnswerCache, cache_key, default_cache_dir
from qwen_review.review import Message

MESSAGES = (Message("system", "You review code."), Message("user", "diff --git a/x b/x\n+print(1)"))


def test_key_is_stable_and_depends_on_model_and_every_message() -> None:
    key = cache_key("qwen3-coder-plus", MESSAGES)
    assert key == cache_key("qwen3-coder-plus", list(MESSAGES))
    assert len(key) == 64
    assert int(key, 16) >= 0
    assert cache_key("qwen3-coder-flash", MESSAGES) != key
    assert cache_key("qwen3-coder-plus", MESSAGES[:1]) != key
    assert cache_key("qwen3-coder-plus", (MESSAGES[0], Message("user", "diff --git a/x b/x\n+print(2)"))) != key
    assert cache_key("qwen3-coder-plus", (Message("user", MESSAGES[0].content), MESSAGES[1])) != key
    # Boundaries between messages matter: moving text from one message to the next changes the key.
    assert cache_key("m", (Message("user", "ab"), Message("user", "c"))) != cache_key(
        "m", (Message("user", "a"), Message("user", "bc")))


def test_put_then_get_round_trips_unicode_in_a_fanned_out_file(tmp_path: Path) -> None:
    cache = AnswerCache(tmp_path)
    key = cache_key("m", MESSAGES)
    assert cache.get(key) is None
    cache.put(key, '{"summary": "Ça marche — 好"}')
    assert cache.get(key) == '{"summary": "Ça marche — 好"}'
    assert (tmp_path / key[:2] / f"{key}.json").is_file()
    assert [p.name for p in (tmp_path / key[:2]).iterdir()] == [f"{key}.json"]  # no temp file left behind
    cache.put(key, "second")
    assert AnswerCache(tmp_path).get(key) == "second"


def test_corrupt_or_foreign_entries_are_misses(tmp_path: Path) -> None:
    cache = AnswerCache(tmp_path)
    key = cache_key("m", MESSAGES)
    path = tmp_path / key[:2] / f"{key}.json"
    path.parent.mkdir(parents=True)
    for content in ("{not json", "[]", json.dumps({"format": "qwen-review/answer@1", "key": "other", "text": "x"}),
                    json.dumps({"format": "qwen-review/answer@1", "key": key, "text": 3})):
        path.write_text(content, encoding="utf-8")
        assert cache.get(key) is None
    path.write_bytes(b"\xff\xfe\x00garbage")
    assert cache.get(key) is None
    cache.put(key, "fixed")  # a corrupt entry is simply overwritten
    assert cache.get(key) == "fixed"


def test_keys_cannot_escape_the_directory(tmp_path: Path) -> None:
    cache = AnswerCache(tmp_path / "c")
    with pytest.raises(ValueError):
        cache.put("../../etc/x", "nope")
    assert not (tmp_path / "etc").exists()


def test_a_file_where_the_directory_should_be_degrades_to_no_cache(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x", encoding="utf-8")
    cache = AnswerCache(blocker)
    key = cache_key("m", MESSAGES)
    cache.put(key, "answer")
    assert cache.enabled is False
    assert cache.get(key) is None
    assert blocker.read_text(encoding="utf-8") == "x"


def test_cache_dir_from_environment_or_user_cache_dir(monkeypatch: pytest.MonkeyPatch, isolated_env: Path) -> None:
    monkeypatch.setenv("QWEN_REVIEW_CACHE_DIR", "/somewhere/else")
    assert default_cache_dir() == Path("/somewhere/else")
    monkeypatch.delenv("QWEN_REVIEW_CACHE_DIR")
    directory = default_cache_dir()
    assert directory.is_relative_to(isolated_env)  # conftest points XDG_CACHE_HOME into the private home
    assert "qwen-review" in directory.parts
