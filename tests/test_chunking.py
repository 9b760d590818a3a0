"""Review units: grouping, splitting at hunks and inside oversized hunks, every line sent, a budget never exceeded."""

from __future__ import annotations

import random
import re
import string

import pytest

from qwen_review.chunking import ReviewUnit, UnitFile, build_units, default_render_cost
from qwen_review.diff import DiffLine, FileDiff, Hunk
from qwen_review.errors import ConfigError
from qwen_review.prompts import number_lines
from qwen_review.tokens import estimate_tokens


def make_hunk(old_start: int, lines: list[str], section: str = "") -> Hunk:
    """A hunk whose header counts agree with its body (lines carry their origin mark)."""
    old = sum(1 for line in lines if line[:1] in "- ")
    new = sum(1 for line in lines if line[:1] in "+ ")
    return Hunk(old_start, old, old_start, new, section, tuple(lines))


def make_file(path: str, *hunks: Hunk, status: str = "modified", skipped: str | None = None) -> FileDiff:
    return FileDiff(path=path, old_path=path, status=status, hunks=list(hunks), skipped=skipped)  # type: ignore[arg-type]


def code_lines(count: int, *, seed: int = 0, width: int = 40) -> list[str]:
    rng = random.Random(seed)
    return [rng.choice("+- ") + f"value_{i} = compute({i}, '{'x' * rng.randint(0, width)}')" for i in range(count)]


def render(unit: ReviewUnit) -> str:
    """The diff part of a unit as `templates/unit.j2` lays it out."""
    out = []
    for part in unit.files:
        file = part.file
        head = f"=== {file.path} ({file.status}"
        head += f", from {file.old_path}" if file.old_path != file.path else ""
        head += f", part {part.part} of {part.parts}" if part.parts > 1 else ""
        out.append(head + ")")
        out.extend(f"[note: {note}]" for note in part.notes)
        for hunk in part.hunks:
            out.extend([hunk.header, number_lines(hunk)])
    return "\n".join(out) + "\n"


def layout(units: list[ReviewUnit]) -> list[list[tuple[str, int, int, int]]]:
    return [[(p.file.path, p.part, p.parts, len(p.hunks)) for p in unit.files] for unit in units]


def test_small_files_share_one_unit_in_path_order() -> None:
    files = [make_file(name, make_hunk(1, code_lines(5, seed=i))) for i, name in enumerate(["c.py", "a.py", "b.py"])]
    units, not_reviewed = build_units(files, max_tokens=4000, overhead_tokens=500)
    assert not_reviewed == []
    assert layout(units) == [[("a.py", 1, 1, 1), ("b.py", 1, 1, 1), ("c.py", 1, 1, 1)]]
    assert units[0].files[0].hunks[0] is files[1].hunks[0]
    assert units[0].files[0].notes == ()
    assert units[0].estimated_tokens == sum(default_render_cost(part) for part in units[0].files)


def test_a_file_that_fits_alone_moves_whole_to_the_next_unit() -> None:
    a, b, c = (make_file(name, make_hunk(1, code_lines(30, seed=i))) for i, name in enumerate("abc"))
    one = default_render_cost(UnitFile(a, tuple(a.hunks)))
    budget = 2 * one + one // 2  # room for two files, not three
    units, _ = build_units([c, b, a], max_tokens=budget + 100, overhead_tokens=100)
    assert layout(units) == [[("a", 1, 1, 1), ("b", 1, 1, 1)], [("c", 1, 1, 1)]]


def test_a_big_file_is_split_at_hunk_boundaries_into_numbered_parts() -> None:
    hunks = [make_hunk(100 * i + 1, code_lines(20, seed=i)) for i in range(12)]
    big = make_file("big.py", *hunks)
    small = make_file("z.py", make_hunk(1, code_lines(3)))
    per_hunk = default_render_cost(UnitFile(big, (hunks[0],)))
    units, _ = build_units([big, small], max_tokens=3 * per_hunk + 400, overhead_tokens=300)
    parts = [p for unit in units for p in unit.files if p.file is big]
    assert len(parts) > 1
    assert [p.part for p in parts] == list(range(1, len(parts) + 1))
    assert {p.parts for p in parts} == {len(parts)}
    assert [h for p in parts for h in p.hunks] == hunks  # consecutive, nothing lost, nothing repeated
    assert all(p.notes == () for p in parts)
    assert units[-1].files[-1].file is small  # the last, smaller part leaves room for the next file
    assert all(unit.estimated_tokens <= 3 * per_hunk + 100 for unit in units)


def diff_lines(hunks: list[Hunk] | tuple[Hunk, ...]) -> list[DiffLine]:
    return [line for hunk in hunks for line in hunk.lines()]


def assert_valid(hunk: Hunk) -> None:
    """Header counts agree with the body; a '\\ No newline' marker never starts a hunk."""
    assert hunk.body and hunk.body[0][:1] != "\\"
    assert hunk.old_lines == sum(1 for line in hunk.body if line[:1] in ("-", " "))
    assert hunk.new_lines == sum(1 for line in hunk.body if line[:1] in ("+", " "))


def test_an_oversized_hunk_is_split_into_consecutive_sub_hunks_and_every_line_is_sent() -> None:
    lines = code_lines(2000, seed=3)
    hunk = make_hunk(1, lines)
    file = make_file("huge.py", hunk)
    units, _ = build_units([file], max_tokens=3000, overhead_tokens=500)
    parts = [p for unit in units for p in unit.files]
    assert len(parts) > 1
    assert [p.part for p in parts] == list(range(1, len(parts) + 1))
    assert all(p.notes == () for p in parts)
    shown = [h for p in parts for h in p.hunks]
    for sub in shown:
        assert_valid(sub)
        assert sub.section == hunk.section
    assert [line for sub in shown for line in sub.body] == lines
    assert diff_lines(shown) == diff_lines([hunk])  # the same numbers on both sides
    assert all(unit.estimated_tokens <= 2500 for unit in units)
    # Each sub-hunk but the last is as long as fits: one more line would not have fitted.
    first = parts[0].hunks[0]
    most = len(parts)
    longer = UnitFile(file, (make_hunk(1, lines[:len(first.body) + 1]),), most, most)
    assert default_render_cost(longer) > 2500


def test_a_big_added_file_is_sent_whole_across_units() -> None:
    lines = [f"+row_{n} = load('{'q' * (n % 37)}', {n})" for n in range(1, 20_001)]
    added = FileDiff(path="data.py", old_path="data.py", status="added", hunks=[Hunk(0, 0, 1, 20_000, "", tuple(lines))])
    units, _ = build_units([added], max_tokens=3000, overhead_tokens=1000)
    assert len(units) > 10
    numbers = [line.new_lineno for unit in units for p in unit.files for line in diff_lines(p.hunks)]
    assert numbers == list(range(1, 20_001))  # every line once, in order
    for unit in units:
        assert unit.estimated_tokens <= 2000
        assert estimate_tokens(render(unit)) <= unit.estimated_tokens
        for part in unit.files:
            for sub in part.hunks:
                assert_valid(sub)
                assert sub.old_start == 0 and sub.old_lines == 0  # git's header for an insertion at the top


def test_a_split_keeps_no_newline_markers_with_their_line_and_gits_zero_count_convention() -> None:
    body = [f"-old_{n} = {n}" for n in range(300)] + ["\\ No newline at end of file"]
    body += [f"+new_{n} = compute({n})" for n in range(300)] + ["\\ No newline at end of file"]
    hunk = Hunk(41, 300, 41, 300, "def f():", tuple(body))
    file = make_file("m.py", hunk)
    units, _ = build_units([file], max_tokens=1500, overhead_tokens=500)
    shown = [h for unit in units for p in unit.files for h in p.hunks]
    assert len(shown) > 2
    assert [line for sub in shown for line in sub.body] == body
    assert diff_lines(shown) == diff_lines([hunk])
    for sub in shown:
        assert_valid(sub)
    only_added = next(sub for sub in shown if sub.old_lines == 0)
    # Like git: a side with no lines names the line before the change on that side (340, not 341).
    assert only_added.old_start == 340
    assert only_added.header.startswith("@@ -340,0 +")


def test_an_oversized_hunk_in_the_middle_of_a_file_is_split_and_the_rest_still_reviewed() -> None:
    hunks = [make_hunk(1, code_lines(10, seed=1)), make_hunk(50, code_lines(3000, seed=2)),
             make_hunk(9000, code_lines(10, seed=3))]
    file = make_file("m.py", *hunks)
    units, _ = build_units([file], max_tokens=4000, overhead_tokens=1000)
    parts = [p for unit in units for p in unit.files]
    assert [p.part for p in parts] == list(range(1, len(parts) + 1))
    assert len(parts) > 3
    assert parts[0].hunks[0] is hunks[0]
    assert parts[-1].hunks[-1] is hunks[2]
    assert diff_lines([h for p in parts for h in p.hunks]) == diff_lines(hunks)
    assert all(p.notes == () for p in parts)


def test_only_a_single_line_too_long_for_a_unit_is_shortened() -> None:
    line = "+" + "".join(random.Random(1).choice(string.digits) for _ in range(50_000))
    file = make_file("data.txt", make_hunk(1, ["+head", line, "+tail"]))
    units, _ = build_units([file], max_tokens=2000, overhead_tokens=500)
    parts = [p for unit in units for p in unit.files]
    shown = [h for p in parts for h in p.hunks]
    assert shown[0].body == ("+head",)
    assert shown[-1].body == ("+tail",)
    (short,) = shown[1].body
    assert line.startswith(short) and len(short) < len(line)
    assert (shown[1].new_start, shown[2].new_start) == (2, 3)
    (note,) = parts[1].notes
    assert re.search(rf"line 2 shortened to fit the token budget: {len(line) - len(short)} of "
                     rf"{len(line) - 1} characters not shown", note)
    assert parts[0].notes == () and parts[-1].notes == ()
    assert all(unit.estimated_tokens <= 1500 for unit in units)


def test_a_budget_that_cannot_hold_anything_is_a_config_error() -> None:
    file = make_file("a.py", make_hunk(1, code_lines(3)))
    with pytest.raises(ConfigError, match="max_prompt_tokens"):
        build_units([file], max_tokens=1000, overhead_tokens=1000)
    with pytest.raises(ConfigError, match=r"too few to show any of a\.py"):
        build_units([file], max_tokens=1010, overhead_tokens=1000)


def test_skipped_files_are_listed_with_their_reason_and_empty_files_are_not_reviewed() -> None:
    files = [
        make_file("z.lock", make_hunk(1, code_lines(3)), skipped="generated"),
        make_file("img.png", skipped="binary"),
        make_file("renamed.py"),  # a pure rename: no hunks, nothing to review
        make_file("ok.py", make_hunk(1, code_lines(3))),
    ]
    units, not_reviewed = build_units(files, max_tokens=4000, overhead_tokens=500)
    assert [(f.path, reason) for f, reason in not_reviewed] == [("img.png", "binary"), ("z.lock", "generated")]
    assert layout(units) == [[("ok.py", 1, 1, 1)]]


def test_a_custom_render_cost_is_used() -> None:
    files = [make_file(f"f{i}.py", make_hunk(1, code_lines(2, seed=i))) for i in range(5)]
    units, _ = build_units(files, max_tokens=1250, overhead_tokens=1000, render_cost=lambda part: 100)
    assert [len(unit.files) for unit in units] == [2, 2, 1]
    assert [unit.estimated_tokens for unit in units] == [200, 200, 100]


def random_files(rng: random.Random) -> list[FileDiff]:
    """Files of random shape: hunk sizes from 1 to 1500 lines, lines up to 3000 characters, several alphabets."""
    pools = [
        "".join(rng.choices(alphabet, k=20_000))
        for alphabet in (string.ascii_letters + "  _", string.digits, string.printable.strip() + "   ", "中文字符ü ")
    ]
    files = []
    for index in range(rng.randint(1, 12)):
        hunks, start = [], rng.randint(1, 200_000)
        for _ in range(rng.randint(1, 6)):
            size = rng.choice([1, 3, 10, 40, 200, 1500])
            width = rng.choice([5, 30, 120, 3000])
            pool = rng.choice(pools)
            lines = []
            for _ in range(size):
                offset = rng.randrange(len(pool) - width)
                lines.append(rng.choice("+- ") + pool[offset:offset + rng.randint(0, width)])
            hunks.append(make_hunk(start, lines, section=rng.choice(["", "def f(x):", "class Ü:"])))
            start += size + rng.randint(1, 50)
        files.append(make_file(f"dir{rng.randint(0, 2)}/file{index}_{rng.choice('abc')}.py", *hunks))
    return files


@pytest.mark.parametrize("seed", range(25))
def test_no_unit_ever_exceeds_the_budget_and_nothing_is_lost(seed: int) -> None:
    rng = random.Random(seed)
    files = random_files(rng)
    max_tokens, overhead = rng.randint(1500, 12_000), rng.randint(200, 1000)
    budget = max_tokens - overhead
    units, _ = build_units(files, max_tokens=max_tokens, overhead_tokens=overhead)
    for unit in units:
        assert unit.estimated_tokens <= budget
        assert unit.estimated_tokens == sum(default_render_cost(part) for part in unit.files)
        assert estimate_tokens(render(unit)) <= unit.estimated_tokens
    parts = [part for unit in units for part in unit.files]
    assert [p.file.path for p in parts] == sorted(p.file.path for p in parts)
    for file in files:
        own = [p for p in parts if p.file is file]
        assert [p.part for p in own] == list(range(1, len(own) + 1))
        shown = [h for p in own for h in p.hunks]
        notes = [n for p in own for n in p.notes]
        for hunk in shown:
            assert_valid(hunk)
        expected, got = diff_lines(file.hunks), diff_lines(shown)
        assert len(got) == len(expected)  # every line is in some part, once
        shortened = 0
        for want, have in zip(expected, got, strict=True):
            assert (have.origin, have.old_lineno, have.new_lineno) == (want.origin, want.old_lineno, want.new_lineno)
            if have.text != want.text:  # a line too long for a unit alone, shortened with a note
                assert want.text.startswith(have.text)
                shortened += 1
        assert len(notes) == shortened


def test_the_same_input_in_any_order_gives_the_same_units() -> None:
    files = random_files(random.Random(99))
    first, _ = build_units(files, max_tokens=3000, overhead_tokens=400)
    shuffled = files[:]
    random.Random(1).shuffle(shuffled)
    second, _ = build_units(shuffled, max_tokens=3000, overhead_tokens=400)
    assert first == second
