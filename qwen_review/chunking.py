"""Split reviewable files into review units that each fit the model's prompt budget.

Small files share a unit (in path order, each file whole when it fits), a big file is split
at hunk boundaries into parts, and a hunk too big for a unit on its own keeps the lines that
fit plus a note saying what was cut. A unit's cost is the estimate of the text the prompt
renders for it (`default_render_cost` mirrors `prompts.number_lines` and `templates/unit.j2`),
so the diff text of a unit never exceeds `max_tokens - overhead_tokens`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache

from qwen_review.diff import FileDiff, Hunk
from qwen_review.errors import ConfigError
from qwen_review.tokens import DIGIT_WEIGHT, PUNCT_WEIGHT, SPACE_WEIGHT, text_weight, weight_to_tokens

# The numbered line prefix `{old:>5} {new:>5} M ` is 13 characters besides the mark itself.
_PREFIX_CHARS = 13
# A numbered line costs at least this many tokens (its prefix alone is about 5); used only to guess.
_MIN_LINE_TOKENS = 5
# Slack per file for template whitespace the estimate does not see (blank lines, Jinja trims).
_FILE_SLACK_TOKENS = 4


@dataclass(frozen=True, slots=True)
class UnitFile:
    """One file's share of a unit: all its hunks, or one part of a split file."""

    file: FileDiff
    hunks: tuple[Hunk, ...]
    part: int = 1
    parts: int = 1
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ReviewUnit:
    """What one model call reviews; `estimated_tokens` counts the diff text only, not the instructions."""

    files: tuple[UnitFile, ...]
    estimated_tokens: int


RenderCost = Callable[[UnitFile], int]


def default_render_cost(part: UnitFile) -> int:
    """Estimated tokens of `part` as `templates/unit.j2` renders it (header, notes, numbered hunks)."""
    return weight_to_tokens(_header_weight(part) + hunks_weight(part.hunks)) + _FILE_SLACK_TOKENS


def hunks_weight(hunks: Sequence[Hunk]) -> int:
    """Weight (see `tokens.text_weight`) of the hunks as rendered: header lines and numbered lines.

    Additive (the weight of two runs of hunks is the sum of their weights) and computed with one
    `text_weight` call and no loop over lines: the numbers of added, deleted and context lines come
    from the header's counts, each charged the digits of the largest line number of its side.
    """
    entries: list[str] = []
    fixed = 0
    for hunk in hunks:
        entries.append(hunk.section)
        entries.extend(hunk.body)
        fixed += _hunk_fixed_weight(hunk)
    # The join puts a newline after each header line and between numbered lines; one more ends the last hunk.
    return text_weight("\n".join(entries)) + PUNCT_WEIGHT + fixed if hunks else 0


def _hunk_fixed_weight(hunk: Hunk) -> int:
    """What the rendering adds to the raw lines: the numbers and marks of the header, the line prefixes."""
    shown = len(hunk.body)  # '\\ No newline' markers are not rendered; counting them only adds
    old_lines, new_lines = hunk.old_lines, hunk.new_lines
    old_digits = len(str(hunk.old_start + old_lines))
    new_digits = len(str(hunk.new_start + new_lines))
    header_digits = old_digits + new_digits + len(str(old_lines)) + len(str(new_lines))
    header = DIGIT_WEIGHT * header_digits + PUNCT_WEIGHT * 8 + SPACE_WEIGHT * 4  # "@@ -a,b +c,d @@ "
    return (header + max(shown - old_lines, 0) * _prefix_weight(new_digits, 0)
            + max(shown - new_lines, 0) * _prefix_weight(old_digits, 0)
            + max(old_lines + new_lines - shown, 0) * _prefix_weight(old_digits, new_digits))


@cache
def _prefix_weight(digits: int, more_digits: int) -> int:
    """The numbered line prefix `{old:>5} {new:>5} M ` besides the mark itself, for numbers this long."""
    numbers = digits + more_digits
    spaces = _PREFIX_CHARS + max(digits - 5, 0) + max(more_digits - 5, 0) - numbers
    return DIGIT_WEIGHT * numbers + SPACE_WEIGHT * max(spaces, 0)


def _header_weight(part: UnitFile) -> int:
    """The `=== path (status, from old, part i of n)` line and the notes, charged as if all were shown."""
    file = part.file
    header = f"=== {file.path} ({file.status}, from {file.old_path}, part {part.part} of {part.parts})\n"
    return text_weight(header) + sum(text_weight(f"[note: {note}]\n") for note in part.notes)


def build_units(
    files: Sequence[FileDiff], *, max_tokens: int, overhead_tokens: int,
    render_cost: RenderCost | None = None,
) -> tuple[list[ReviewUnit], list[tuple[FileDiff, str]]]:
    """Pack the files into units; also return the files not reviewed, each with its skip reason.

    `render_cost` must not decrease when hunks, lines or notes are added; by default it is
    `default_render_cost`. Files without hunks (pure renames, mode changes) have nothing to
    review and appear in neither list. Raises ConfigError when the budget cannot hold even one
    line of some file.
    """
    budget = max_tokens - overhead_tokens
    if budget <= 0:
        raise ConfigError(
            f"max_prompt_tokens ({max_tokens}) is not more than the fixed instructions ({overhead_tokens} tokens)",
            hint="raise max_prompt_tokens",
        )
    ordered = sorted(files, key=lambda f: (f.path, f.old_path, f.status))
    not_reviewed: list[tuple[FileDiff, str]] = [(f, f.skipped) for f in ordered if f.skipped is not None]
    costs = render_cost or default_render_cost
    units: list[ReviewUnit] = []
    current: list[UnitFile] = []
    used = 0
    for file in ordered:
        if file.skipped is not None or not file.hunks:
            continue
        for part, cost in _file_parts(file, budget, costs):
            if current and used + cost > budget:
                units.append(ReviewUnit(tuple(current), used))
                current, used = [], 0
            current.append(part)
            used += cost
    if current:
        units.append(ReviewUnit(tuple(current), used))
    return units, not_reviewed


def _file_parts(file: FileDiff, budget: int, costs: RenderCost) -> list[tuple[UnitFile, int]]:
    """The file whole when it fits, else consecutive runs of hunks that fit, cutting oversized hunks."""
    hunks = tuple(file.hunks)
    whole = UnitFile(file, hunks)
    default = costs is default_render_cost
    weights: list[int] | None = None
    # A file likely too big is weighed hunk by hunk at once (the weight is additive), so it is read once.
    if default and len(hunks) > 1 and sum(len(h.body) for h in hunks) * _MIN_LINE_TOKENS > budget:
        weights = [hunks_weight((hunk,)) for hunk in hunks]
        cost = weight_to_tokens(_header_weight(whole) + sum(weights)) + _FILE_SLACK_TOKENS
    else:
        cost = costs(whole)
    if cost <= budget:
        return [(whole, cost)]
    # Trial parts carry the largest part numbers the split can produce, so the real ones cost no more.
    most = len(hunks)
    if default and weights is None:
        weights = [hunks_weight((hunk,)) for hunk in hunks]
    fits = _fits_default(file, weights, budget, most) if weights is not None else None
    pieces: list[tuple[tuple[Hunk, ...], tuple[str, ...]]] = []
    start = 0
    while start < len(hunks):

        def fits_from(count: int, start: int = start) -> bool:
            if fits is not None:
                return fits(start, count)
            return costs(UnitFile(file, hunks[start:start + count], most, most)) <= budget

        end = _largest_fit(fits_from, len(hunks) - start)
        if end == 0:
            pieces.append(_cut(file, hunks[start], budget, costs, most))
            start += 1
        else:
            pieces.append((hunks[start:start + end], ()))
            start += end
    parts = [UnitFile(file, chosen, index, len(pieces), notes) for index, (chosen, notes) in enumerate(pieces, 1)]
    return [(part, costs(part)) for part in parts]


def _fits_default(file: FileDiff, weights: list[int], budget: int, most: int) -> Callable[[int, int], bool]:
    """`default_render_cost(part) <= budget` for runs of hunks, in O(1) from prefix sums (the weight is additive)."""
    header = _header_weight(UnitFile(file, (), most, most))
    sums = [0]
    for weight in weights:
        sums.append(sums[-1] + weight)

    def fits(start: int, count: int) -> bool:
        weight = header + sums[start + count] - sums[start]
        return weight_to_tokens(weight) + _FILE_SLACK_TOKENS <= budget

    return fits


def _largest_fit(fits: Callable[[int], bool], limit: int) -> int:
    """The largest n in [0, limit] with fits(n), for a `fits` that is true up to some n and false after."""
    if limit == 0 or not fits(1):
        return 0
    low, step = 1, 1  # gallop, then bisect: few calls when the answer is small
    while low + step <= limit and fits(low + step):
        low += step
        step *= 2
    high = min(low + step, limit + 1)  # fits(low) is true, fits(high) false (or out of range)
    while high - low > 1:
        middle = (low + high) // 2
        if fits(middle):
            low = middle
        else:
            high = middle
    return low


def _cut(file: FileDiff, hunk: Hunk, budget: int, costs: RenderCost, most: int) -> tuple[tuple[Hunk, ...], tuple[str, ...]]:
    """Keep the first lines of `hunk` that fit, with a note; a lone overlong line is shortened."""
    total = len(hunk.body)

    def trial(kept: Hunk, note: str) -> bool:
        return costs(UnitFile(file, (kept,), most, most, (note,))) <= budget

    lines = _largest_fit(lambda n: trial(_head(hunk, n), _cut_note(hunk, total - n)), total)
    if lines > 0:
        return (_head(hunk, lines),), (_cut_note(hunk, total - lines),)
    first = hunk.body[0]
    chars = _largest_fit(lambda n: trial(_head(hunk, 1, n), _cut_note(hunk, total - 1, len(first) - n)),
                         len(first) - 1)
    if chars == 0:
        raise ConfigError(
            f"max_prompt_tokens leaves only {budget} tokens for the diff, too few to show any of {file.path}",
            hint="raise max_prompt_tokens",
        )
    return (_head(hunk, 1, chars),), (_cut_note(hunk, total - 1, len(first) - chars),)


def _head(hunk: Hunk, lines: int, chars: int | None = None) -> Hunk:
    """The first `lines` lines of a hunk (the first line cut to `chars` characters), counts adjusted."""
    body = hunk.body[:lines]
    if chars is not None:
        body = (body[0][:chars], *body[1:])
    origins = "".join([line[:1] for line in body])
    context = origins.count(" ")
    return Hunk(hunk.old_start, origins.count("-") + context, hunk.new_start, origins.count("+") + context,
                hunk.section, body)


def _cut_note(hunk: Hunk, lines_cut: int, chars_cut: int = 0) -> str:
    where = f"hunk @@ -{hunk.old_start},{hunk.old_lines} +{hunk.new_start},{hunk.new_lines} @@"
    shortened = f"its first line shortened by {chars_cut} characters, " if chars_cut else ""
    return f"{where} cut to fit the token budget: {shortened}{lines_cut} of {len(hunk.body)} lines not shown"
