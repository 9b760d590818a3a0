"""Speed and memory of `qwen-review A..B --dry-run --format json` against `git diff A B` on a large change.

Generates a repository deterministically (2,200 files, 220,000 changed lines between two
commits), then prints the median wall time of each command over several runs, their ratio,
and the peak memory (max RSS) of the qwen-review process. Run: `python bench/diff_speed.py`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from genrepo import generate


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    """Wall time of one run, stdout to /dev/null."""
    start = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=sink, stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed: {proc.stderr.decode(errors='replace')}")
    return elapsed


def measure_rss(cmd: list[str], cwd: Path, env: dict[str, str]) -> int:
    """Peak RSS of one run of `cmd`, measured by a fresh helper process so other runs do not mix in."""
    probe = ("import resource, subprocess, sys, os\n"
             "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)\n"
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
    out = subprocess.run([sys.executable, "-c", probe, *cmd], cwd=cwd, env=env, capture_output=True,
                         text=True, check=True)
    return int(out.stdout.strip())


def stages(root: Path, base: str, head: str) -> list[tuple[str, float]]:
    """Where the time goes, stage by stage, in this process (imports already done)."""
    from qwen_review.chunking import build_units
    from qwen_review.config import resolve_settings
    from qwen_review.engine import collect_files
    from qwen_review.prompts import PromptRenderer, make_environment
    from qwen_review.redact import redact_files
    from qwen_review.report.json_report import render_json
    from qwen_review.review import ProviderInfo, Request, Review
    from qwen_review.target import open_repository, resolve
    from qwen_review.tokens import estimate_tokens

    clock = time.perf_counter
    marks: list[tuple[str, float]] = []
    start = clock()
    repo = open_repository(root)
    target = resolve(repo, f"{base}..{head}")
    settings = resolve_settings({}, {}, env={})
    files = collect_files(repo, target, settings)
    marks.append(("collect (libgit2 patches + parse)", clock() - start))
    start = clock()
    files = redact_files(files).files
    marks.append(("redact", clock() - start))
    start = clock()
    renderer = PromptRenderer(make_environment(), language=None, instructions=None)
    overhead = estimate_tokens(renderer.overhead_text())
    units, _ = build_units(files, max_tokens=settings.max_prompt_tokens, overhead_tokens=overhead)
    marks.append(("chunk", clock() - start))
    start = clock()
    requests = [Request(tuple(p.file.path for p in u.files), u.estimated_tokens + overhead,
                        renderer.messages(u, i, len(units))) for i, u in enumerate(units, 1)]
    marks.append(("render prompts", clock() - start))
    start = clock()
    review = Review(target=target, provider=ProviderInfo("none"), files=files, requests=requests, dry_run=True)
    text = render_json(review)
    marks.append((f"JSON report ({len(text) / 1e6:.0f} MB)", clock() - start))
    return marks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--files", type=int, default=2200)
    parser.add_argument("--keep", type=Path, help="generate into (or reuse) this directory")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="qr-bench-"))
    if not (root / ".git").exists():
        generate(root, files=args.files)
    base = subprocess.run(["git", "rev-parse", "HEAD~1"], cwd=root, capture_output=True, text=True,
                          check=True).stdout.strip()
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                          check=True).stdout.strip()
    stat = subprocess.run(["git", "diff", "--shortstat", base, head], cwd=root, capture_output=True, text=True,
                          check=True).stdout.strip()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "QWEN_"))}
    env["QWEN_REVIEW_CACHE_DIR"] = str(root / ".bench-cache")
    tool = shutil.which("qwen-review", path=str(Path(sys.executable).parent)) or "qwen-review"
    ours_cmd = [tool, f"{base}..{head}", "--dry-run", "--format", "json"]
    git_cmd = ["git", "diff", base, head]
    ours, theirs = [], []
    for _ in range(args.runs):  # interleaved, so drift in machine load hits both alike
        theirs.append(timed(git_cmd, root, env))
        ours.append(timed(ours_cmd, root, env))
    rss_kib = measure_rss(ours_cmd, root, env)
    git_median, ours_median = statistics.median(theirs), statistics.median(ours)
    print(f"change: {stat}")
    print(f"git diff A B:                        median {git_median:.3f} s over {args.runs} runs")
    print(f"qwen-review A..B --dry-run -f json:  median {ours_median:.3f} s over {args.runs} runs")
    print(f"ratio: {ours_median / git_median:.2f}x git (target <= 1.75x)")
    print(f"peak memory (max RSS) of qwen-review: {rss_kib / 1024:.0f} MiB (target < 200 MB)")
    import_start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import qwen_review.cli, qwen_review.engine, pygit2, pydantic, jinja2"],
                   check=True)
    print(f"stages, in-process (interpreter start and imports in a fresh process: "
          f"{time.perf_counter() - import_start:.3f} s):")
    for label, seconds in stages(root, base, head):
        print(f"  {label:40} {seconds:.3f} s")
    if args.keep is None:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
