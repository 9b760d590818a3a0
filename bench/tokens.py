"""Prompt tokens sent against the diff's own size, on a few diff shapes.

For each shape: the tokens of `git diff A B` (the diff itself), the tokens of the fixed
instructions every unit carries (system prompt and unit frame) times the number of units,
and the tokens of every message `qwen-review A..B --dry-run` would send. Prints
sent / (diff + instructions); target <= 1.3x.

Tokens are counted with Qwen's own tokenizer when the `dashscope` and `tiktoken` packages are
installed (`pip install dashscope tiktoken`; the tokenizer file ships inside dashscope, nothing
is downloaded), else with qwen-review's local estimate (which over-counts on purpose).
The code in the shapes is qwen-review's own source, so the text is real code.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from qwen_review.cli import main as cli_main  # noqa: E402
from qwen_review.prompts import PromptRenderer, make_environment  # noqa: E402
from qwen_review.tokens import estimate_tokens  # noqa: E402

SOURCES = sorted((ROOT / "qwen_review").rglob("*.py"))
ENV = {"GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@example.invalid",
       "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@example.invalid"}


def counter() -> tuple[str, Callable[[str], int]]:
    try:
        from dashscope import get_tokenizer

        tokenizer = get_tokenizer("qwen-turbo")
        return "Qwen tokenizer (dashscope)", lambda text: len(tokenizer.encode(text))
    except ImportError:
        return "qwen-review's local estimate", estimate_tokens


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True,
                          env={**os.environ, **ENV}).stdout


def commit(root: Path, files: dict[str, str | None]) -> None:
    for name, text in files.items():
        path = root / name
        if text is None:
            path.unlink()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    git(root, "add", "-A")
    git(root, "commit", "-q", "--allow-empty", "-m", "x")


def sources(count: int, offset: int = 0) -> dict[str, str]:
    chosen = SOURCES[offset : offset + count]
    return {f"src/{p.relative_to(ROOT).as_posix()}": p.read_text() for p in chosen}


def edit_lines(text: str, every: int) -> str:
    lines = text.splitlines(keepends=True)
    for i in range(0, len(lines), every):
        lines[i] = lines[i].rstrip("\n") + "  # changed\n"
    return "".join(lines)


def shapes() -> dict[str, tuple[dict[str, str], dict[str, str | None]]]:
    base = sources(12)
    return {
        "new files": ({}, dict(sources(6))),
        "one-line fixes in large files": (base, {k: edit_lines(v, 97) for k, v in base.items()}),
        "scattered edits": (base, {k: edit_lines(v, 9) for k, v in base.items()}),
        "rewrite": (base, {k: edit_lines(v, 2) for k, v in base.items()}),
        "deletions and renames": (base, {**{k: None for k in list(base)[:4]},
                                         **{k.replace("src/", "lib/"): edit_lines(v, 25) for k, v in list(base.items())[4:8]},
                                         **{k: None for k in list(base)[4:8]}}),
    }


def main() -> int:
    name, count = counter()
    instructions = PromptRenderer(make_environment(), language=None, instructions=None).overhead_text()
    print(f"tokens counted with: {name}")
    print(f"{'shape':32} {'diff':>8} {'instr.':>8} {'units':>6} {'sent':>8} {'ratio':>7}")
    for label, (before, after) in shapes().items():
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            git(root, "init", "-q", "-b", "main")
            commit(root, {"README": "bench\n", **before})
            commit(root, after)
            diff_tokens = count(git(root, "diff", "-M", "HEAD~1", "HEAD"))
            out = io.StringIO()
            previous = Path.cwd()
            os.chdir(root)
            try:
                with contextlib.redirect_stdout(out):
                    cli_main(["HEAD~1", "--dry-run", "-f", "json"])
            finally:
                os.chdir(previous)
            requests = json.loads(out.getvalue())["requests"]
            sent = sum(count(m["content"]) for r in requests for m in r["messages"])
            fixed = count(instructions) * len(requests)
            ratio = sent / (diff_tokens + fixed)
            print(f"{label:32} {diff_tokens:>8} {fixed:>8} {len(requests):>6} {sent:>8} {ratio:>6.2f}x")
    print("target: sent <= 1.3x (diff + instructions)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
