"""Every write to the terminal or to a report file goes through here."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from qwen_review.errors import UsageError

log = logging.getLogger("qwen_review")


def setup_logging(verbosity: int) -> None:
    """-q: errors only; default: warnings; -v: info; -vv: debug."""
    level = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("qwen-review: %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False


def error(message: str, hint: str | None = None) -> None:
    print(f"qwen-review: error: {message}", file=sys.stderr)
    if hint:
        print(f"qwen-review: hint: {hint}", file=sys.stderr)


def warn(message: str) -> None:
    print(f"qwen-review: warning: {message}", file=sys.stderr)


def notice(message: str) -> None:
    print(f"qwen-review: {message}", file=sys.stderr)


def write_stdout(text: str) -> None:
    """The report on stdout; a reader that went away (`| head`) is not an error."""
    if text and not text.endswith("\n"):
        text += "\n"
    try:
        sys.stdout.flush()
        buffer = getattr(sys.stdout, "buffer", None)
        if buffer is None:  # a replaced stdout (tests, embedding) takes str
            sys.stdout.write(text)
            return
        # Bytes straight to the buffer: the text layer is several times slower on a large report.
        buffer.write(text.encode(sys.stdout.encoding or "utf-8", "replace"))
        buffer.flush()
    except BrokenPipeError:
        # Point stdout at /dev/null so the interpreter's final flush does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


_FORMAT_OF_SUFFIX = {".json": "json", ".sarif": "sarif", ".md": "markdown", ".markdown": "markdown"}


def format_for(path: Path | None) -> str:
    """The report format a file name asks for (`report.sarif`: sarif); text for anything else."""
    return "text" if path is None else _FORMAT_OF_SUFFIX.get(path.suffix.lower(), "text")


def prepare_output_path(path: Path) -> Path:
    """Check, before any work, that a report can be written at `path`; create its missing directories."""
    path = path.expanduser()
    if path.is_dir():
        raise UsageError(f"cannot write the report to {path}: it is a directory", hint="give a file name")
    if path.parent.exists() and not path.parent.is_dir():
        raise UsageError(f"cannot write the report to {path}: {path.parent} is not a directory")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot write the report to {path}: {exc.strerror or exc}") from exc
    if not os.access(path.parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UsageError(f"cannot write the report to {path}: permission denied")
    return path


def status(message: str) -> None:
    """A line about what was done (a report written), left out with -q."""
    if log.isEnabledFor(logging.WARNING):
        notice(message)


def write_file_atomic(path: Path, text: str) -> None:
    """Write all of `text` or nothing: a temporary file in the same directory, then a rename.

    Only a regular file (or a new one) is replaced that way; a symlink is followed, and a FIFO,
    a device or `/dev/stdout` is written to in place, as a shell redirection would.
    """
    if text and not text.endswith("\n"):
        text += "\n"
    path = path.expanduser()
    if path.exists() and not path.is_file():
        with open(path, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        return
    path = path.resolve()  # through a symlink: the link stays, its target gets the report
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.chmod(temp, _umask_mode(path))
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _umask_mode(path: Path) -> int:
    """The mode a plain `open(path, "w")` would give: an existing file keeps its own."""
    if path.exists():
        return path.stat().st_mode & 0o7777
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def progress(total: int) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr, only in a terminal and only when there is more than one unit."""
    if total < 2 or not sys.stderr.isatty() or os.environ.get("TERM") == "dumb":
        yield lambda done, total: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("reviewing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=Console(file=sys.stderr), transient=True)
    task = bar.add_task("units", total=total)
    with bar:
        yield lambda done, total: bar.update(task, completed=done)


def stdout_color() -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
