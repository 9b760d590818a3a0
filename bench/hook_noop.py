"""Wall time of the installed pre-commit hook with nothing staged, against `python -c "import pygit2"`.

Both are run alternately in the same process, so machine noise hits them alike; prints the medians
and the ratio (target: at most 1.5x the baseline, and under 0.25 s), then the slowest imports of the
hook's own Python process (`-X importtime`).

    python bench/hook_noop.py [--runs 20] [--files 2200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from genrepo import generate  # a sibling script, not a package

BIN = Path(sys.executable).parent


def _time(command: list[str], *, cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{command[0]} failed ({result.returncode}): {result.stderr.decode(errors='replace')}")
    return elapsed


def _slowest_imports(cwd: Path, env: dict[str, str], count: int) -> list[tuple[int, str]]:
    """(cumulative microseconds, module) of the top-level imports of `qwen-review hook pre-commit`."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "qwen_review", "hook", "pre-commit"],
                            cwd=cwd, env=env, capture_output=True, text=True, check=True)
    rows = []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.removeprefix("import time:").split("|")
        if cumulative.strip().isdigit() and not name.startswith("  "):  # nested imports are indented further
            rows.append((int(cumulative), name.strip()))
    return sorted(rows, reverse=True)[:count]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--files", type=int, default=2200, help="files in the generated repository")
    args = parser.parse_args()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("GIT_", "PRE_COMMIT"))}
    with tempfile.TemporaryDirectory(prefix="qwen-review-bench-") as temp:
        root = Path(temp) / "repo"
        generate(root, files=args.files, lines_per_file=40)
        subprocess.run([str(BIN / "qwen-review"), "install-hook"], cwd=root, env=env, check=True, capture_output=True)
        hook = root / ".git" / "hooks" / "pre-commit"
        baseline_cmd = [sys.executable, "-c", "import pygit2"]
        for _ in range(2):  # warm the page cache and the .pyc files
            _time([str(hook)], cwd=root, env=env)
            _time(baseline_cmd, cwd=root, env=env)
        hook_times, baseline_times = [], []
        for _ in range(args.runs):
            hook_times.append(_time([str(hook)], cwd=root, env=env))
            baseline_times.append(_time(baseline_cmd, cwd=root, env=env))
        imports = _slowest_imports(root, env, 8)
    hook_median, baseline_median = statistics.median(hook_times), statistics.median(baseline_times)
    ratio = hook_median / baseline_median
    print(f"repository: {args.files} files, nothing staged; {args.runs} runs each, alternating")
    print(f"hook (sh + qwen-review hook pre-commit): median {hook_median * 1000:.1f} ms "
          f"(min {min(hook_times) * 1000:.1f}, max {max(hook_times) * 1000:.1f})")
    print(f"baseline (python -c 'import pygit2'):    median {baseline_median * 1000:.1f} ms "
          f"(min {min(baseline_times) * 1000:.1f}, max {max(baseline_times) * 1000:.1f})")
    ok = ratio <= 1.5 and hook_median < 0.25
    print(f"ratio: {ratio:.2f}x  (target <= 1.5x and < 250 ms: {'met' if ok else 'NOT met'})")
    print("slowest top-level imports of the hook process (cumulative):")
    for micros, name in imports:
        print(f"  {micros / 1000:7.1f} ms  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
