"""The terminal report: findings grouped by file with the cited code, readable with or without colour."""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING

from qwen_review.diff import DiffLine, FileDiff
from qwen_review.report.markdown import group_findings, location, nothing_to_review, stats_line, unit_coverage
from qwen_review.review import SEVERITIES, Finding, Review, line_span

if TYPE_CHECKING:
    from collections.abc import Iterator

    from rich.console import Console, ConsoleOptions, RenderableType
    from rich.text import Text

SEVERITY_STYLES = {
    "critical": "bold white on red",
    "high": "bold red",
    "medium": "yellow",
    "low": "cyan",
    "info": "blue",
}
EXCERPT_LIMIT = 8
_LABEL_WIDTH = max(len(s) for s in SEVERITIES)
TERMINAL_WIDTH = 100  # the terminal report's columns, whatever the window: a stable, readable layout
# The console width when lines are not wrapped: only the dry-run table uses it, as its ceiling.
_UNWRAPPED = 1_000_000

# C0/C1 controls (ESC starts terminal escape sequences) and bidi overrides (Trojan Source):
# model text and file contents must not drive the terminal or reorder what is shown.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """Text with terminal control and bidi-override characters shown as escapes."""
    return _UNSAFE.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else f"\\u{ord(m[0]):04x}", text)


def excerpt(file: FileDiff, finding: Finding) -> list[DiffLine]:
    """The diff lines a finding cites: new-side lines for RIGHT, old-side lines for LEFT."""
    if finding.line is None:
        return []
    first = finding.line
    last = finding.end_line if finding.end_line is not None and finding.end_line >= first else first
    cited: list[DiffLine] = []
    for hunk in file.hunks:
        for line in hunk.lines():
            number = line.new_lineno if finding.side == "RIGHT" else line.old_lineno
            if number is not None and first <= number <= last:
                cited.append(line)
    return cited


def render_text(review: Review, *, color: bool, width: int | None = None) -> str:
    """The review as text; plain when `color` is False (NO_COLOR, not a TTY).

    `width` wraps lines at that many columns, for a terminal; without it no line is broken, so a
    pipe or a CI log gets an error message or a path whole, wherever the reader's window ends.
    """
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(
        file=buffer, force_terminal=color, no_color=not color, width=width or _UNWRAPPED,
        soft_wrap=width is None, highlight=False, markup=False, emoji=False, legacy_windows=False,
    )
    for block in _blocks(review):
        console.print(block)
    # Padding fills lines to the full width; trailing blanks only get in the way of copy and diff.
    return "\n".join(line.rstrip(" ") for line in buffer.getvalue().split("\n"))


def _blocks(review: Review) -> list[RenderableType]:
    from rich.text import Text

    blocks: list[RenderableType] = [_headline(review)]
    if review.dry_run and review.files:
        blocks += _dry_run(review)
    if review.summary.strip():
        blocks += [Text("\nSummary", style="bold"), _Indented(Text(printable(review.summary.strip())), 2)]
    files = {file.path: file for file in review.files}
    grouped, unanchored = group_findings(review)
    for path, findings in grouped:
        blocks.append(Text("\n" + printable(path), style="bold underline"))
        for finding in findings:
            blocks += _finding(finding, files.get(finding.path), with_path=False)
    if unanchored:
        blocks.append(Text("\nNot pinned to a line", style="bold underline"))
        for finding in unanchored:
            blocks += _finding(finding, files.get(finding.path), with_path=True)
    skipped = [file for file in review.files if file.skipped]
    if skipped and not review.dry_run:  # the dry-run table already shows each reason
        blocks.append(Text("\nSkipped", style="bold"))
        column = max(len(printable(f.path)) for f in skipped) + 2
        for file in skipped:
            blocks.append(Text(f"  {printable(file.path):<{column}}{file.skipped}", style="dim"))
    if review.failed_units:
        blocks.append(Text("\nFailed units (not reviewed)", style="bold red"))
        for unit in review.failed_units:
            blocks.append(Text(f"  {printable(', '.join(unit.files))}: {printable(unit.reason)}"))
    if not nothing_to_review(review):
        blocks.append(Text("\n" + stats_line(review.stats, dry_run=review.dry_run), style="dim"))
    return blocks


def _headline(review: Review) -> Text:
    from rich.text import Text

    target = review.target
    line = Text()
    line.append(f"qwen-review {printable(target.spec or target.kind)} ({target.kind})", style="bold")
    if review.provider.model:
        line.append(f" · model {printable(review.provider.model)}", style="dim")
    line.append("\n")
    if nothing_to_review(review):
        line.append("Nothing to review.")
        return line
    if review.dry_run:
        line.append("Dry run: no model was called.", style="bold")
        if review.findings:
            line.append("\n")
    if review.dry_run and not review.findings:
        return line
    total = len(review.findings)
    if total:
        line.append(f"{total} finding{'' if total == 1 else 's'}: ")
        shown = [(s, n) for s in reversed(SEVERITIES) if (n := sum(f.severity == s for f in review.findings))]
        for index, (severity, count) in enumerate(shown):
            line.append(f"{count} {severity}", style=SEVERITY_STYLES[severity])
            if index < len(shown) - 1:
                line.append(", ")
    # Never "No findings." for a change the model did not (fully) see: a clean line must mean clean.
    failed, units = unit_coverage(review)
    if failed >= units > 0:
        line.append(("\n" if total else "") + f"Not reviewed: {failed} of {units} unit{'' if units == 1 else 's'} failed.",
                    style="bold red")
    elif failed:
        note = f"{failed} of {units} units could not be reviewed."
        line.append(f"\n{note}" if total else f"No findings in the reviewed part; {note}", style="yellow")
    elif not total:
        line.append("No findings.", style="green")
    return line


def _finding(finding: Finding, file: FileDiff | None, *, with_path: bool) -> list[RenderableType]:
    from rich.text import Text

    head = Text("  ")
    head.append(f"{finding.severity.upper():<{_LABEL_WIDTH}}", style=SEVERITY_STYLES.get(finding.severity, ""))
    where = location(finding) if with_path else line_span(finding.line, finding.end_line) or "-"
    if finding.side == "LEFT" and finding.line is not None:
        where += " (old)"
    head.append(f"  {printable(where)}", style="bold")
    head.append(f"  {printable(' '.join(finding.category.split()))}", style="dim")
    head.append(f"  {printable(' '.join(finding.title.split()))}", style="bold")
    blocks: list[RenderableType] = [head]
    indent = 4
    if finding.body.strip():
        blocks.append(_Indented(Text(printable(finding.body.strip())), indent))
    cited = excerpt(file, finding) if file is not None else []
    if cited:
        blocks.append(_Indented(_code(cited), indent + 2))
    if finding.suggestion:
        blocks.append(_Indented(Text("suggestion:", style="green"), indent))
        code = Text(printable(finding.suggestion.rstrip("\n")), style="green", no_wrap=True, overflow="ellipsis")
        blocks.append(_Indented(code, indent + 2))
    return blocks


def _code(cited: list[DiffLine]) -> Text:
    from rich.text import Text

    shown = cited[:EXCERPT_LIMIT]
    numbers = [line.new_lineno if line.new_lineno is not None else line.old_lineno for line in shown]
    gutter = max(len(str(n)) for n in numbers)
    code = Text(no_wrap=True, overflow="ellipsis")
    origin_style = {"+": "green", "-": "red", " ": ""}
    for index, (line, number) in enumerate(zip(shown, numbers, strict=True)):
        if index:
            code.append("\n")
        code.append(f"{number:>{gutter}} {line.origin} ", style="dim")
        code.append(printable(line.text), style=origin_style.get(line.origin, ""))
    if len(cited) > len(shown):
        code.append(f"\n{'':>{gutter}}   ... {len(cited) - len(shown)} more lines", style="dim")
    return code


class _Indented:
    """Text moved right by `left` columns: wrapped under its indent in a terminal, each line whole otherwise."""

    def __init__(self, text: Text, left: int) -> None:
        self.text, self.left = text, left

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[RenderableType]:
        from rich.padding import Padding
        from rich.text import Text

        if not options.no_wrap:
            yield Padding(self.text, (0, 0, 0, self.left))
            return
        # Unwrapped (soft_wrap): Padding would still cut each line at the console's width.
        indent = Text(" " * self.left)
        yield Text("\n").join(indent + line for line in self.text.split("\n", allow_blank=True))


def _dry_run(review: Review) -> list[RenderableType]:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, title=None)
    table.add_column("File", overflow="fold")
    table.add_column("Status")
    table.add_column("+/-", justify="right")
    table.add_column("Hunks", justify="right")
    table.add_column("Skipped")
    for file in review.files:
        name = printable(file.path)
        if file.status in ("renamed", "copied") and file.old_path != file.path:
            name = f"{printable(file.old_path)} -> {name}"
        table.add_row(
            name, file.status, f"+{file.additions}/-{file.deletions}", str(len(file.hunks)), file.skipped or "",
            style="dim" if file.skipped else None,
        )
    tokens = sum(request.estimated_tokens for request in review.requests)
    count = len(review.requests)
    lines = Text(
        f"{count} request{'' if count == 1 else 's'} (one per unit) would be sent, "
        f"~{tokens:,} estimated prompt tokens"
    )
    for index, request in enumerate(review.requests, start=1):
        files = printable(", ".join(request.files))
        lines.append(f"\n  {index}. {files} (~{request.estimated_tokens:,} tokens)", style="dim")
    return [Text(""), table, Text(""), lines]
