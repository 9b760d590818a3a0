"""Wall time of N review units against a local model server with a fixed latency, against the ideal.

The ideal is ceil(N / concurrency) x L: every unit waits L, `concurrency` of them at a time.
The units run through the real pipeline (`qwen-review HEAD~1`, in this process) against the
test suite's fake OpenAI-compatible server on 127.0.0.1. Run: `python bench/llm_concurrency.py`.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from qwen_review.cli import main as cli_main  # noqa: E402
from tests.fakes.model_server import ModelServer, Reply  # noqa: E402


def make_repo(root: Path, units: int) -> None:
    """One file per unit, each big enough that two never share a unit at the budget used below."""
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@example.invalid",
           "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@example.invalid"}
    (root / "README").write_text("bench\n")
    (root / ".qwen-review.toml").write_text("max_prompt_tokens = 2000\n")
    subprocess.run(["git", "add", "-A"], cwd=root, check=True, env=env)
    subprocess.run(["git", "commit", "-q", "-m", "base"], cwd=root, check=True, env=env)
    for i in range(units):
        (root / f"unit_{i:03d}.py").write_text("".join(f"value_{i}_{n} = compute({n}) + offset\n" for n in range(60)))
    subprocess.run(["git", "add", "-A"], cwd=root, check=True, env=env)
    subprocess.run(["git", "commit", "-q", "-m", "units"], cwd=root, check=True, env=env)


def run_once(root: Path, server: ModelServer, concurrency: int) -> tuple[float, dict[str, int]]:
    os.environ.update({"OPENAI_API_KEY": "bench", "OPENAI_BASE_URL": server.base_url})
    previous = Path.cwd()
    os.chdir(root)
    out = io.StringIO()
    try:
        start = time.perf_counter()
        with contextlib.redirect_stdout(out):
            code = cli_main(["HEAD~1", "-f", "json", "--no-cache", "--concurrency", str(concurrency)])
        elapsed = time.perf_counter() - start
    finally:
        os.chdir(previous)
    if code != 0:
        raise SystemExit(f"review failed with exit code {code}")
    stats: dict[str, int] = json.loads(out.getvalue())["stats"]
    return elapsed, stats


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--units", type=int, default=24)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--concurrency", type=int, nargs="*", default=[1, 4, 8])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, ModelServer() as server:
        root = Path(tmp)
        make_repo(root, args.units)
        # The pipeline's own time (git, prompts, report) without any model latency, for reference.
        server.fallback = Reply(delay=0.0)
        local, _ = run_once(root, server, 4)
        server.fallback = Reply(delay=args.latency)
        print(f"{args.units} units, model latency {args.latency:.2f} s; pipeline without latency: {local:.3f} s")
        for concurrency in args.concurrency:
            elapsed, stats = run_once(root, server, concurrency)
            assert stats["units"] == args.units, stats
            ideal = math.ceil(args.units / concurrency) * args.latency
            print(f"concurrency {concurrency:>2}: wall {elapsed:.3f} s, ideal {ideal:.3f} s, "
                  f"ratio {elapsed / ideal:.3f}x (target <= 1.15x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
