"""Deterministic generator of a large two-commit repository for the benchmarks."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

WORDS = ["alpha", "beta", "gamma", "delta", "value", "result", "index", "count", "total", "name", "item", "data", "self", "return", "if", "else", "for", "while", "def", "class", "import", "from", "None", "True", "False"]


def _line(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 10)))


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def generate(root: Path, *, files: int = 2200, lines_per_file: int = 120, seed: int = 7) -> tuple[str, str]:
    """Create `root` with commits A and B; B changes every file. Returns (A, B) shas."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    _git(root, "init", "-q", "-b", "main")
    _git(root, "config", "user.name", "bench")
    _git(root, "config", "user.email", "bench@example.invalid")
    contents: dict[str, list[str]] = {}
    for i in range(files):
        path = f"pkg{i % 40:02d}/module_{i:05d}.py"
        contents[path] = [_line(rng) for _ in range(lines_per_file)]
    _write(root, contents)
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "A")
    base = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, check=True,
                          capture_output=True, text=True).stdout.strip()
    for lines in contents.values():
        # Rewrite about 45% of the lines in scattered runs, so each file has several hunks.
        for start in range(0, len(lines), 12):
            for j in range(start, min(start + 5, len(lines))):
                lines[j] = _line(rng)
    _write(root, contents)
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "B")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, check=True,
                          capture_output=True, text=True).stdout.strip()
    return base, head


def _write(root: Path, contents: dict[str, list[str]]) -> None:
    for path, lines in contents.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("\n".join(lines) + "\n")
