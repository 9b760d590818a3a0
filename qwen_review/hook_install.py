"""`install-hook` / `uninstall-hook`: put the native hook script where git looks for hooks.

Paths come from git itself (`git rev-parse --git-path hooks`), which knows linked worktrees
(hooks live in the common git dir), `core.hooksPath` (relative to the work tree root, `~`
expanded) and `GIT_DIR`; libgit2 reads neither `GIT_CONFIG_GLOBAL` nor the worktree rules the same way.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from qwen_review.errors import GitError, UsageError

HOOK_NAMES = ("pre-commit", "pre-push")
MARKER = "# qwen-review-hook: managed by `qwen-review install-hook` and `uninstall-hook`"

# A thin POSIX sh script: run a hook kept from before (its failure stops git, as it always did),
# then exec the qwen-review recorded at install time, else one on PATH; never block when none is found.
_TEMPLATE = """\
#!/bin/sh
{marker}
# The {hook} hook: qwen-review reviews {what} (defaults: --fail-on high --on-error warn).
# Skip it once with `git {git_command} --no-verify`; remove it with `qwen-review uninstall-hook{flag}`.
INSTALL_SCRIPT={script}
INSTALL_PYTHON={python}
HOOK={hook}

legacy="$0.legacy"
if [ "$HOOK" = pre-push ]; then
    pushed=$(cat)  # the pushed refs: both the legacy hook and qwen-review read them from stdin
fi
run() {{
    if [ "$HOOK" = pre-push ]; then
        printf '%s\\n' "$pushed" | "$@"
    else
        "$@"
    fi
}}

if [ -x "$legacy" ]; then
    run "$legacy" "$@" || exit $?
fi

if [ -n "$INSTALL_SCRIPT" ] && [ -x "$INSTALL_SCRIPT" ]; then
    set -- "$INSTALL_SCRIPT" hook "$HOOK" "$@"
elif [ -n "$INSTALL_PYTHON" ] && "$INSTALL_PYTHON" -c 'import qwen_review' >/dev/null 2>&1; then
    set -- "$INSTALL_PYTHON" -m qwen_review hook "$HOOK" "$@"
elif command -v qwen-review >/dev/null 2>&1; then
    set -- qwen-review hook "$HOOK" "$@"
elif command -v python3 >/dev/null 2>&1 && python3 -c 'import qwen_review' >/dev/null 2>&1; then
    set -- python3 -m qwen_review hook "$HOOK" "$@"
else
    echo "qwen-review: warning: qwen-review not found (pip install qwen-review); $HOOK review skipped" >&2
    exit 0
fi
if [ "$HOOK" = pre-push ]; then
    run "$@"
    exit $?
fi
exec "$@"
"""


def render_script(hook: str, *, script: str = "", python: str = "") -> str:
    """The hook script; `script`/`python` record the installed qwen-review (empty: look on PATH)."""
    if hook not in HOOK_NAMES:
        raise UsageError(f"unknown hook {hook!r}")
    pre_push = hook == "pre-push"
    return _TEMPLATE.format(
        marker=MARKER, hook=hook, script=shlex.quote(script), python=shlex.quote(python),
        what="the commits about to be pushed" if pre_push else "the changes about to be committed",
        git_command="push" if pre_push else "commit", flag=" --pre-push" if pre_push else "",
    )


def installed_commands() -> tuple[str, str]:
    """(console script, interpreter) of the running qwen-review, recorded so the hook finds this install."""
    python = sys.executable  # not resolved: a venv's python is a symlink that must stay the venv's
    argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    candidates = [argv0] if argv0 is not None and argv0.name == "qwen-review" else []
    candidates.append(Path(python).parent / "qwen-review")
    script = next((str(path.absolute()) for path in candidates if path.is_file() and os.access(path, os.X_OK)), "")
    return script, python


def is_ours(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return MARKER.encode() in handle.read(4096)
    except OSError:
        return False


def install(repo_path: Path, *, pre_push: bool, force: bool) -> list[str]:
    """Write the hook; a foreign hook already there is kept as `<hook>.legacy` and still runs first."""
    name = "pre-push" if pre_push else "pre-commit"
    directory = hooks_directory(repo_path, force=force)
    hook, legacy = directory / name, directory / f"{name}.legacy"
    lines = []
    present = hook.exists() or hook.is_symlink()
    if present and not is_ours(hook):
        if legacy.exists() or legacy.is_symlink():
            raise UsageError(f"{hook} is not qwen-review's and {legacy} already exists: not overwriting either",
                             hint="move one of them away, then run install-hook again")
        os.replace(hook, legacy)
        lines.append(f"kept the existing hook as {legacy}; it runs first and its failure still stops git")
    script, python = installed_commands()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        _write_executable(hook, render_script(name, script=script, python=python))
    except OSError as exc:
        raise UsageError(f"cannot write {hook}: {exc.strerror or exc}") from exc
    verb = "updated" if present and not lines else "installed"
    return [f"{verb} the {name} hook: {hook}", *lines]


def uninstall(repo_path: Path, *, pre_push: bool) -> list[str]:
    """Remove our hook and put a `.legacy` one back; a hook qwen-review did not write is left alone."""
    name = "pre-push" if pre_push else "pre-commit"
    directory = hooks_directory(repo_path, force=True)
    hook, legacy = directory / name, directory / f"{name}.legacy"
    if not (hook.exists() or hook.is_symlink()):
        return [f"no {name} hook in {directory}: nothing to remove"]
    if not is_ours(hook):
        raise UsageError(f"{hook} was not installed by qwen-review: left in place")
    hook.unlink()
    lines = [f"removed the {name} hook: {hook}"]
    if legacy.exists() or legacy.is_symlink():
        os.replace(legacy, hook)
        lines.append(f"restored the previous hook from {legacy}")
    return lines


def hooks_directory(repo_path: Path, *, force: bool) -> Path:
    """Where git runs this repository's hooks; refuses `core.hooksPath` (another tool's) unless `force`."""
    from qwen_review.target import open_repository

    open_repository(repo_path)  # the usual errors for "not a repository" and "bare repository"
    directory = Path(_git(repo_path, "rev-parse", "--path-format=absolute", "--git-path", "hooks"))
    configured = _git(repo_path, "config", "--get", "core.hooksPath", missing_ok=True)
    if configured and not force:
        raise UsageError(
            f"core.hooksPath is set ({configured}): git runs the hooks in {directory}, "
            "which another tool may manage; not installing",
            hint="run `qwen-review install-hook --force` to install into that directory, "
                 "or `git config --unset core.hooksPath`")
    return directory


def _git(repo_path: Path, *args: str, missing_ok: bool = False) -> str:
    try:
        result = subprocess.run(["git", *args], cwd=repo_path, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise GitError(f"cannot run git: {exc.strerror or exc}") from exc
    if result.returncode != 0:
        if missing_ok and result.returncode == 1 and not result.stderr.strip():
            return ""  # `git config --get` of an unset key
        raise GitError(f"git {' '.join(args)} failed: {result.stderr.strip() or result.returncode}")
    return result.stdout.strip()


def _write_executable(path: Path, text: str) -> None:
    """Write the whole script or nothing (a half-written hook would break every commit), mode 0755."""
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.chmod(temp, 0o755)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
