"""The local token estimate: never below what Qwen's tokenizer makes of a text, additive, and cheap."""

from __future__ import annotations

import random
import string

import pytest

from qwen_review.tokens import WEIGHT_SCALE, estimate_tokens, text_weight, weight_to_tokens

# Texts of several kinds with the number of tokens Qwen's real tokenizer makes of them
# (byte-level BPE `qwen.tiktoken` from the dashscope SDK, encoded offline when this table was made).
SAMPLES = {
"python": '''def _file_parts(file, budget, costs):
    """The file whole when it fits, else runs of hunks that fit."""
    hunks = tuple(file.hunks)
    for index, hunk in enumerate(hunks, start=1):
        if costs(hunk) > budget:
            raise ValueError(f"hunk {index} of {file.path!r} is too big: {costs(hunk)} > {budget}")
    return [(UnitFile(file, hunks), sum(map(costs, hunks)))]
''',
"c": '''static int parse_header(const char *buf, size_t len, struct hdr *out) {
    if (len < sizeof(*out) || buf == NULL) return -EINVAL;
    memcpy(out, buf, sizeof(*out));
    out->flags = ntohl(out->flags) & 0x7fffffffu;
    for (size_t i = 0; i < out->count; ++i) { out->items[i] = (uint8_t)buf[i + 16]; }
    return 0;
}
''',
"json": '''{"name": "qwen-review", "version": "0.4.1", "private": true,
 "scripts": {"test": "pytest -q", "lint": "ruff check ."},
 "dependencies": {"pygit2": ">=1.15", "pydantic": ">=2.7", "openai": ">=1.40"},
 "ports": [8080, 8443, 9090], "ratio": 0.8125, "enabled": false}
''',
"markdown": '''## Configuration

Settings are read from `.qwen-review.toml` at the repository root, or from `[tool.qwen-review]`
in `pyproject.toml`. Flags win over the environment, which wins over the file. An unknown key
is an error (exit 2) that names the key, so a typo never goes unnoticed.
''',
"chinese": '''# 计算每个文件的令牌预算\uff0c超过预算的大文件按代码块拆分。
# 如果单个代码块本身就超过预算\uff0c则保留能放下的前几行\uff0c并附上说明。
def 拆分(文件列表, 预算):
    return [文件 for 文件 in 文件列表 if 文件.大小 < 预算]  # 小文件合并到同一个单元
''',
"base64": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg9x"
          "Qm7Zt3kLpV0aR8sWn2YcE4uJfHd6gBvT1iXoNM5qDzAyKe7rSlOxh0PcUbW+/jGI3fHs2vkNlDbXmoYyJRt4ZwA8c6i9E1pq",
"hex": "\n".join(["3f786850e387550fdab836ed7e6dc881de23001b  src/a.py", "89e6c98d92887913cadf06b2adb97f26cde4849b  src/b.py",
                  "2b66fd261ee5c6cfc8de7fa466bab600bcfe4f69  tests/test_c.py", "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567  docs/d.md"]),
"numbers": "\n".join("    " + ", ".join(str((i * 37 + j * 11) % 256) for j in range(12)) + "," for i in range(8)),
"rendered_diff": '''   41    41   def estimate_tokens(text: str) -> int:
   42          -     return len(text) // 4
         42 +     return weight_to_tokens(text_weight(text))
   43    43  \x20
 1203  1204       if total > budget:
       1205 +         raise ConfigError(f"budget {budget} too small")
''',
"emoji_mixed": "print('✅ done in 3.2s 🚀 — naïve café façade, Übergröße, Ελληνικά, русский текст')\n",
}
QWEN_TOKENS = {'python': 109, 'c': 111, 'json': 117, 'markdown': 71, 'chinese': 85, 'base64': 140, 'hex': 161, 'numbers': 441, 'rendered_diff': 94, 'emoji_mixed': 38}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_estimate_is_at_least_the_real_token_count(name: str) -> None:
    estimate, real = estimate_tokens(SAMPLES[name]), QWEN_TOKENS[name]
    assert real <= estimate <= 1.6 * real, (name, estimate, real)


def test_empty_text_is_zero_and_any_text_at_least_one() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("a") == 1
    assert estimate_tokens(" ") == 1


def test_weight_is_additive_over_concatenation() -> None:
    rng = random.Random(5)
    alphabet = string.printable + "中文字éü😀\u0130\x00"
    for _ in range(300):
        a = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        b = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        assert text_weight(a + b) == text_weight(a) + text_weight(b)


def test_rounding_up() -> None:
    assert weight_to_tokens(0) == 0
    assert weight_to_tokens(1) == 1
    assert weight_to_tokens(WEIGHT_SCALE) == 1
    assert weight_to_tokens(WEIGHT_SCALE + 1) == 2


def test_dense_text_costs_more_than_prose_of_the_same_length() -> None:
    prose = "the quick brown fox jumps over the lazy dog " * 10
    digits = "".join(str(i % 10) for i in range(len(prose)))
    assert estimate_tokens(digits) >= len(digits)  # Qwen makes one token of every digit
    assert estimate_tokens(digits) > 3 * estimate_tokens(prose)


def test_each_cjk_character_counts_about_one_token() -> None:
    text = "计算每个文件的令牌预算" * 10
    assert len(text) <= estimate_tokens(text) <= 1.1 * len(text)


def test_lone_surrogates_do_not_raise() -> None:
    assert estimate_tokens("a\udcff b") >= 2
