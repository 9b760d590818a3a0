"""Whole runs over awkward changes: a huge new file, odd file names, bad answers, Ctrl-C."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from tests.clirun import run_cli
from tests.gitrepo import GitRepo

_NUMBERED_ADDITION = re.compile(r"^(\d+) \+", re.MULTILINE)


def test_every_line_of_a_huge_added_file_is_sent_across_requests(repo: GitRepo,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    repo.write("README", "base\n")
    repo.commit("base")
    repo.write("table.py", "".join(f"row_{n} = load({n})\n" for n in range(1, 20_001)))
    repo.commit("a big generated table")
    repo.write(".qwen-review.toml", "max_prompt_tokens = 6000\n")
    dry = run_cli(repo.path, "HEAD~1", "--dry-run", "-f", "json", capsys=capsys)
    assert dry.code == 0, dry.err
    requests = dry.json()["requests"]
    assert len(requests) > 10
    assert all(r["estimated_tokens"] <= 6000 for r in requests)
    sent = Counter(int(n) for r in requests for n in _NUMBERED_ADDITION.findall(r["messages"][-1]["content"]))
    assert sorted(sent) == list(range(1, 20_001))
    assert set(sent.values()) == {1}
    assert "not shown" not in dry.out
