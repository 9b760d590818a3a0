"""Split reviewable files into review units that each fit the model's prompt budget.

Small files share a unit (in path order, each file whole when it fits), a big file is split
at hunk boundaries into parts, and a hunk too big for a unit on its own is split into
consecutive sub-hunks (valid hunks with their own headers), so every line is sent; only a
single line too long for a unit alone is shortened, with a note saying so. A unit's cost is
the estimate of the text the prompt renders for it (`default_render_cost` mirrors
`prompts.number_lines` and `templates/unit.j2`), so the diff text of a unit never exceeds
`max_tokens - overhead_tokens`.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from qwen_review.diff import FileDiff, Hunk
from qwen_review.errors import ConfigError
from qwen_review.tokens import DIGIT_WEIGHT, PUNCT_WEIGHT, SPACE_WEIGHT, text_weight, weight_to_tokens

# A numbered line costs at least this many tokens (a three-digit number alone is about 5); used only to guess.
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
    """What the rendering adds to the raw lines: the numbers and marks of the header, the line numbers.

    `prompts.number_lines` writes `{number} {line}`: the new-side number for added and context
    lines, the old-side one for deleted lines, each charged the digits of its side's largest number.
    """
    shown = len(hunk.body)  # '\\ No newline' markers are not rendered; counting them only adds
    old_lines, new_lines = hunk.old_lines, hunk.new_lines
    old_digits = len(str(hunk.old_start + old_lines))
    new_digits = len(str(hunk.new_start + new_lines))
    header_digits = old_digits + new_digits + len(str(old_lines)) + len(str(new_lines))
    header = DIGIT_WEIGHT * header_digits + PUNCT_WEIGHT * 8 + SPACE_WEIGHT * 4  # "@@ -a,b +c,d @@ "
    numbered_new = min(new_lines, shown)  # added and context lines
    numbered_old = shown - numbered_new  # deleted lines (and any marker)
    return header + numbered_new * _prefix_weight(new_digits) + numbered_old * _prefix_weight(old_digits)


def _prefix_weight(digits: int) -> int:
    """A line number of this many digits and the space after it."""
    return DIGIT_WEIGHT * digits + SPACE_WEIGHT


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
    """The file whole when it fits, else consecutive runs of hunks that fit, oversized hunks split."""
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
    if default and weights is None:
        weights = [hunks_weight((hunk,)) for hunk in hunks]
    # Trial parts carry part numbers at least as long as the real ones, so the real parts cost no more;
    # the count is a guess until the split is made, and the split is redone in the rare case it is short.
    most = len(hunks) + 2 * -(-cost // budget)
    while True:
        pieces = _pieces(file, hunks, weights, budget, costs, most)
        if len(pieces) <= most:
            break
        most = len(pieces)
    parts = [UnitFile(file, chosen, index, len(pieces), notes) for index, (chosen, notes) in enumerate(pieces, 1)]
    return [(part, costs(part)) for part in parts]


Piece = tuple[tuple[Hunk, ...], tuple[str, ...]]


def _pieces(file: FileDiff, hunks: tuple[Hunk, ...], weights: list[int] | None, budget: int, costs: RenderCost,
            most: int) -> list[Piece]:
    """Hunks too big for a part alone become sub-hunks that fit; then consecutive runs of them that fit."""
    alone = _fits_default(file, weights, budget, most) if weights is not None else None
    segments: list[tuple[Hunk, str | None]] = []
    segment_weights: list[int] = []
    for index, hunk in enumerate(hunks):
        fits_alone = alone(index, 1) if alone is not None else costs(UnitFile(file, (hunk,), most, most)) <= budget
        if fits_alone:
            segments.append((hunk, None))
            segment_weights.append(weights[index] if weights is not None else 0)
            continue
        for sub, note in _split(file, hunk, budget, costs, most):
            segments.append((sub, note))
            segment_weights.append(hunks_weight((sub,)) if weights is not None else 0)
    fits = _fits_default(file, segment_weights, budget, most) if weights is not None else None
    # A shortened line fills its part with its note; it is never packed with other hunks.
    noted = [index for index, (_, note) in enumerate(segments) if note is not None] + [len(segments)]
    pieces: list[Piece] = []
    start = 0
    while start < len(segments):
        hunk, note = segments[start]
        if note is not None:
            pieces.append(((hunk,), (note,)))
            start += 1
            continue

        def fits_from(count: int, start: int = start) -> bool:
            if fits is not None:
                return fits(start, count)
            chosen = tuple(segment for segment, _ in segments[start:start + count])
            return costs(UnitFile(file, chosen, most, most)) <= budget

        limit = noted[bisect_right(noted, start)] - start
        end = max(_largest_fit(fits_from, limit), 1)  # never 0: each segment was made to fit a part alone
        pieces.append((tuple(segment for segment, _ in segments[start:start + end]), ()))
        start += end
    return pieces


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


def _largest_fit(fits: Callable[[int], bool], limit: int, guess: int = 1) -> int:
    """The largest n in [0, limit] with fits(n), for a `fits` that is true up to some n and false after.

    Gallops from `guess` (up or down) then bisects, so a good guess costs two or three calls.
    """
    if limit == 0:
        return 0
    guess = min(max(guess, 1), limit)
    if fits(guess):
        low, step = guess, 1
        while low + step <= limit and fits(low + step):
            low += step
            step *= 2
        high = min(low + step, limit + 1)  # fits(low) is true, fits(high) false (or out of range)
    else:
        high, step = guess, 1
        while high - step >= 1 and not fits(high - step):
            high -= step
            step *= 2
        low = max(high - step, 0)  # fits(low) is true (n = 0 always "fits"), fits(high) false
    while high - low > 1:
        middle = (low + high) // 2
        if fits(middle):
            low = middle
        else:
            high = middle
    return low


def _split(file: FileDiff, hunk: Hunk, budget: int, costs: RenderCost, most: int) -> list[tuple[Hunk, str | None]]:
    """Consecutive sub-hunks of `hunk`, each as long as fits a part alone; a line too long alone is shortened."""
    origins = "".join([line[:1] for line in hunk.body])
    # Where a sub-hunk may start: any line but a '\\ No newline' marker, which stays with the line before it.
    starts = [index for index, origin in enumerate(origins) if origin != "\\"]
    starts.append(len(origins))
    count = len(starts) - 1
    # The numbers the next line would have on each side (a side without lines names the line before).
    old, new = hunk.old_start + (hunk.old_lines == 0), hunk.new_start + (hunk.new_lines == 0)
    pieces: list[tuple[Hunk, str | None]] = []
    first = lines = 0
    while first < count:

        def fits(lines: int, first: int = first, old: int = old, new: int = new) -> bool:
            sub = _slice(hunk, origins, starts[first], starts[first + lines], old, new)
            return costs(UnitFile(file, (sub,), most, most)) <= budget

        # Sub-hunks of one hunk hold about as many lines each: the last count is the best guess.
        lines = _largest_fit(fits, count - first, guess=lines)
        if lines == 0:
            begin, end = starts[first], starts[first + 1]
            pieces.append(_shorten(file, _slice(hunk, origins, begin, end, old, new), budget, costs, most))
            lines = 1
        else:
            pieces.append((_slice(hunk, origins, starts[first], starts[first + lines], old, new), None))
        sub = pieces[-1][0]
        old = sub.old_start + (sub.old_lines == 0) + sub.old_lines
        new = sub.new_start + (sub.new_lines == 0) + sub.new_lines
        first += lines
    return pieces


def _shorten(file: FileDiff, line: Hunk, budget: int, costs: RenderCost, most: int) -> tuple[Hunk, str]:
    """A one-line hunk (with its marker) cut to the characters that fit a part alone, and a note."""
    text = line.body[0]
    first = next(line.lines())
    number = first.new_lineno if first.new_lineno is not None else first.old_lineno

    def shortened(chars: int) -> tuple[Hunk, str]:
        note = (f"line {number} shortened to fit the token budget: {len(text) - chars} of {len(text) - 1} "
                "characters not shown")
        return replace(line, body=(text[:chars], *line.body[1:])), note

    def fits(chars: int) -> bool:
        sub, note = shortened(chars)
        return costs(UnitFile(file, (sub,), most, most, (note,))) <= budget

    # The cost grows about linearly with the characters kept: guess from the whole line's cost.
    whole, note = shortened(len(text))
    guess = (len(text) - 1) * budget // max(costs(UnitFile(file, (whole,), most, most, (note,))), 1)
    chars = _largest_fit(fits, len(text) - 1, guess=guess)  # the origin mark and at least one character
    if chars == 0:
        raise ConfigError(
            f"max_prompt_tokens leaves only {budget} tokens for the diff, too few to show any of {file.path}",
            hint="raise max_prompt_tokens",
        )
    return shortened(chars)


def _slice(hunk: Hunk, origins: str, begin: int, end: int, old: int, new: int) -> Hunk:
    """Lines `begin:end` of a hunk as a hunk of their own, whose first line is `old` / `new` on each side.

    `origins` holds the hunk's origin marks, one per line, so the counts are taken in C. A side
    with no lines names the line before it, as git writes `@@ -0,0 +1,3 @@`.
    """
    context = origins.count(" ", begin, end)
    old_lines = origins.count("-", begin, end) + context
    new_lines = origins.count("+", begin, end) + context
    return Hunk(old - (old_lines == 0), old_lines, new - (new_lines == 0), new_lines, hunk.section,
                hunk.body[begin:end])
