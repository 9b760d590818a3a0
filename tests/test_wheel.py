"""The built wheel installs into a fresh venv, ships templates/, and runs from there."""

from __future__ import annotations

import os
import site
import subprocess
import sys
import venv
from pathlib import Path

from tests.gitrepo import GitRepo

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_installs_and_runs(tmp_path: Path, repo: GitRepo) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(ROOT)],
        check=True, capture_output=True,
    )
    (wheel,) = dist.glob("qwen_review-*.whl")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    # Dependencies come from the test environment (no download); qwen-review itself only from the wheel.
    Path(purelib, "test-deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
                   check=True, capture_output=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    script = env_dir / "bin" / "qwen-review"
    version = subprocess.run([str(script), "--version"], check=True, capture_output=True, text=True, env=env)
    assert version.stdout.startswith("qwen-review ")
    where = subprocess.run(
        [str(python), "-c", "import qwen_review, pathlib; p = pathlib.Path(qwen_review.__file__).parent;"
                            "print(p); print(sorted(x.name for x in (p / 'templates').iterdir()))"],
        check=True, capture_output=True, text=True, env=env, cwd=tmp_path,
    ).stdout.splitlines()
    assert where[0].startswith(str(env_dir))
    assert "system.j2" in where[1]
    repo.write("a.py", "a = 1\n")
    repo.commit("base")
    repo.write("a.py", "a = 2\n")
    repo.commit("edit")
    dry = subprocess.run([str(script), "HEAD~1", "--dry-run", "-f", "json"], cwd=repo.path,
                         capture_output=True, text=True, env=env)
    assert dry.returncode == 0, dry.stderr
    assert '"role":"system"' in dry.stdout
