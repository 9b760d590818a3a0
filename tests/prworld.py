"""A pull request world for end-to-end tests: a real origin and checkout, the fake GitHub API and model."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.github_server import BOT_LOGIN, TOKEN, FakeGitHub, files_from_git_diff
from tests.fakes.model_server import ModelServer, RecordedRequest, Reply
from tests.gitrepo import GitRepo

REPO = "octo/demo"
NUMBER = 7
API_KEY = "sk-test-key-for-the-fake-model-0123456789"
_NUMBERED = re.compile(r"^\s*(?P<number>\d+) (?P<mark>[+\- ])(?P<text>.*)$")  # the prompt's "NUMBER MARK CODE"
_BUG = re.compile(r"BUG\((?P<severity>\w+)\): (?P<title>.*)")


def base_code() -> str:
    return "".join(f"value_{i:02} = {i}\n" for i in range(1, 41))


def reviewer(request: RecordedRequest) -> Reply:
    """A model that reports each added line carrying `BUG(severity): title`; `OFFDIFF` cites line 999."""
    findings: list[dict[str, Any]] = []
    path = None
    for line in str(request.body["messages"][-1]["content"]).split("\n"):
        if line.startswith("=== "):
            path = line[4:].split(" (")[0]
        match = _NUMBERED.match(line)
        if match is None or match["mark"] != "+":
            continue
        bug = _BUG.search(match["text"])
        if bug:
            findings.append({"path": path, "line": int(match["number"]), "side": "RIGHT", "severity": bug["severity"],
                             "category": "bug", "title": bug["title"], "body": "Explain the risk.",
                             "quote": match["text"].strip(), "suggestion": None})
        if "OFFDIFF" in match["text"]:
            findings.append({"path": path, "line": 999, "side": "RIGHT", "severity": "low", "category": "design",
                             "title": "Module layout", "body": "Not about one line.", "quote": None,
                             "suggestion": None})
    return Reply(text=json.dumps({"summary": f"The model looked at it: {len(findings)} problem(s).",
                                  "findings": findings}))


@dataclass
class PullWorld:
    """`dev` is the developer's clone (and, by default, the checkout under review); `origin` a bare repo."""

    tmp: Path
    dev: GitRepo
    origin: Path
    github: FakeGitHub
    model: ModelServer
    base: str
    head: str = ""
    head_repo: str = REPO
    draft: bool = False
    checkout: Path = field(init=False)

    def __post_init__(self) -> None:
        self.checkout = self.dev.path

    def push(self, files: dict[str, str], message: str = "change") -> str:
        """Commit on the feature branch, push it as the PR head, and tell the fake GitHub."""
        for path, text in files.items():
            self.dev.write(path, text)
        self.dev.commit(message)
        return self.publish_head()

    def publish_head(self) -> str:
        """Push the feature branch's HEAD as the PR head and tell the fake GitHub (base: `self.base`)."""
        self.head = self.dev.rev("HEAD")
        self.dev.git("push", "-q", "-f", "origin", f"HEAD:refs/pull/{NUMBER}/head")
        diff = self.dev.git("diff", "-M", f"{self.base}...{self.head}")
        self.github.set_pull(REPO, NUMBER, head_sha=self.head, base_sha=self.base,
                             files=files_from_git_diff(diff), draft=self.draft)
        return self.head

    def merge_base_branch(self, files: dict[str, str], message: str = "main moves on") -> str:
        """main gains `files` (it becomes the PR's new base), then main is merged into the feature branch."""
        self.dev.git("checkout", "-q", "main")
        for path, text in files.items():
            self.dev.write(path, text)
        self.base = self.dev.commit(message)
        self.dev.git("push", "-q", "origin", "main")
        self.dev.git("checkout", "-q", "feature")
        self.dev.git("merge", "-q", "--no-edit", "main")
        return self.publish_head()

    def event(self, action: str = "opened", **pull_overrides: Any) -> Path:
        pull: dict[str, Any] = {
            "number": NUMBER, "draft": self.draft, "state": "open", "user": {"login": "contributor"},
            "base": {"sha": self.base, "ref": "main", "repo": {"full_name": REPO}},
            "head": {"sha": self.head, "ref": "feature", "repo": {"full_name": self.head_repo}},
        }
        pull.update(pull_overrides)
        path = self.tmp / f"event-{action}.json"
        path.write_text(json.dumps({"action": action, "number": NUMBER, "pull_request": pull,
                                    "repository": {"full_name": REPO}}))
        return path

    @property
    def step_summary(self) -> Path:
        return self.tmp / "step_summary.md"

    @property
    def output_file(self) -> Path:
        return self.tmp / "github_output.txt"

    def env(self, **overrides: str) -> dict[str, str]:
        event = overrides["GITHUB_EVENT_PATH"] if "GITHUB_EVENT_PATH" in overrides else str(self.event())
        values = {
            "GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": event,
            "GITHUB_REPOSITORY": REPO, "GITHUB_API_URL": self.github.base_url, "GITHUB_TOKEN": TOKEN,
            "GITHUB_STEP_SUMMARY": str(self.step_summary), "GITHUB_OUTPUT": str(self.output_file),
            "QWEN_REVIEW_GITHUB_LOGIN": BOT_LOGIN, "OPENAI_API_KEY": API_KEY,
            "OPENAI_BASE_URL": self.model.base_url, "OPENAI_MODEL": "qwen-test",
        }
        values.update(overrides)
        return values

    def outputs(self) -> dict[str, str]:
        """GITHUB_OUTPUT parsed as the runner does (name=value and name<<DELIMITER blocks)."""
        values: dict[str, str] = {}
        lines = self.output_file.read_text().split("\n") if self.output_file.exists() else []
        index = 0
        while index < len(lines):
            line = lines[index]
            if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
                name, delimiter = line.split("<<", 1)
                end = lines.index(delimiter, index + 1)
                values[name] = "\n".join(lines[index + 1:end])
                index = end + 1
                continue
            if line:
                name, value = line.split("=", 1)
                values[name] = value
            index += 1
        return values

    def summaries(self) -> list[str]:
        return [c["body"] for c in self.github.issue_comments.get((REPO, NUMBER), [])]

    def reviews(self) -> list[dict[str, Any]]:
        return self.github.reviews.get((REPO, NUMBER), [])

    def review_comments(self) -> list[dict[str, Any]]:
        return self.github.review_comments.get((REPO, NUMBER), [])

    def writes(self) -> list[str]:
        return [f"{r.method} {r.path}" for r in self.github.requests if r.method != "GET"]


def make_world(tmp: Path, dev: GitRepo, github: FakeGitHub, model: ModelServer,
               base_files: dict[str, str] | None = None) -> PullWorld:
    """main with `app.py` (and `base_files`) pushed to a bare origin; the dev clone on `feature`."""
    origin = tmp / "origin.git"
    dev.git("init", "-q", "--bare", str(origin))
    dev.write("app.py", base_code())
    for path, text in (base_files or {}).items():
        dev.write(path, text)
    base = dev.commit("base")
    dev.git("remote", "add", "origin", origin.as_uri())
    dev.git("push", "-q", "origin", "main")
    dev.git("checkout", "-q", "-b", "feature")
    model.fallback = reviewer
    return PullWorld(tmp=tmp, dev=dev, origin=origin, github=github, model=model, base=base)


def edit_line(text: str, number: int, new: str) -> str:
    lines = text.split("\n")
    lines[number - 1] = new
    return "\n".join(lines)


EVAL = "result = eval(data)  # BUG(high): eval of untrusted input"


@pytest.fixture
def world(tmp_path: Path, make_repo: Callable[..., GitRepo], github_server: FakeGitHub,
          model_server: ModelServer) -> PullWorld:
    """A pull request whose one commit adds an eval to app.py, with both fake servers wired in."""
    pr = make_world(tmp_path, make_repo("dev"), github_server, model_server)
    pr.push({"app.py": edit_line(base_code(), 5, EVAL)}, "use eval")
    return pr
