"""A GitHub REST API fake on 127.0.0.1 that enforces the rules publishing must respect.

Only what qwen-review calls is implemented, answered with the JSON shapes PyGithub reads.
Enforced like GitHub: a token is required (401), bodies over 65,536 characters are refused
(422), and a review with any comment off the pull request's diff is refused whole (422
"Line could not be resolved"); commentable lines are computed here, independently of the
code under test, from the patches the test configures. Faults can be scripted per route.

Register for every test module with `pytest_plugins = ("tests.fakes.github_server",)` in
`tests/conftest.py`; the fixture is `github_server`.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from nacl.public import PrivateKey, SealedBox

from tests.fakes.loopback import LoopbackServer

TOKEN = "ghs_FAKE_token_for_tests_only_0123456789"
BODY_LIMIT = 65_536
PREFIX = "/api/v3"  # served under a path, as GitHub Enterprise is, so base_url handling is exercised
BOT_LOGIN = "github-actions[bot]"
_DOCS = "https://docs.github.com/rest"
_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")
_SECONDARY = ("You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
              "If you reach out to GitHub Support for help, please include the request ID.")

Json = dict[str, Any]
Response = tuple[int, dict[str, str], Any]


@dataclass
class PullFile:
    """One entry of `pulls/{n}/files`; `patch` is None where GitHub omits it (binary, too large)."""

    filename: str
    patch: str | None
    status: str = "modified"
    previous_filename: str | None = None

    def counts(self) -> tuple[int, int]:
        lines = (self.patch or "").split("\n")
        adds = sum(1 for line in lines if line.startswith("+"))
        dels = sum(1 for line in lines if line.startswith("-"))
        return adds, dels


@dataclass
class Fault:
    method: str
    path: str
    remaining: int
    status: int
    after_store: bool = False
    delay: float = 0.0  # seconds to hold the answer back (a client timeout)
    headers: dict[str, str] = field(default_factory=dict)
    body: Json = field(default_factory=dict)


@dataclass(frozen=True)
class Recorded:
    """One request as the server saw it; the Authorization value is never kept."""

    method: str
    path: str
    query: dict[str, list[str]]
    status: int
    body: Any
    authorized: bool


@dataclass
class _Pull:
    repo: str
    number: int
    head_sha: str
    base_sha: str
    draft: bool
    files: list[PullFile]
    commits: set[str]


def commentable_lines(patch: str | None) -> dict[str, dict[int, int]]:
    """{'RIGHT': {line: hunk}, 'LEFT': {line: hunk}} from a GitHub `patch` string."""
    sides: dict[str, dict[int, int]] = {"RIGHT": {}, "LEFT": {}}
    hunk, old, new = -1, 0, 0
    for line in (patch or "").split("\n"):
        header = _HUNK.match(line)
        if header:
            hunk, old, new = hunk + 1, int(header[1]), int(header[2])
        elif hunk < 0 or not line or line.startswith("\\"):
            continue
        elif line[0] == "+":
            sides["RIGHT"][new] = hunk
            new += 1
        elif line[0] == "-":
            sides["LEFT"][old] = hunk
            old += 1
        elif line[0] == " ":
            sides["RIGHT"][new] = hunk
            sides["LEFT"][old] = hunk
            old, new = old + 1, new + 1
    return sides


_QUOTED = r'"(?:[^"\\]|\\.)*"'
# `diff --git a/x b/y`: each side C-quoted by git when its path needs it, tab-free in this line.
_DIFF_HEADER = re.compile(rf"(?P<old>{_QUOTED}|a/.*?) (?P<new>{_QUOTED}|b/.*)")
_C_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}


def git_path(text: str, prefix: str) -> str:
    """The path in a diff line, without `prefix`: git C-quotes odd names and ends `---`/`+++` names holding a space with a tab."""
    text = text.removesuffix("\t")
    if len(text) >= 2 and text[0] == text[-1] == '"':
        raw, body, index = bytearray(), text[1:-1], 0
        while index < len(body):
            char = body[index]
            if char != "\\":
                raw += char.encode("utf-8")
                index += 1
            elif body[index + 1] in "01234567":
                raw.append(int(body[index + 1:index + 4], 8))
                index += 4
            else:
                raw.append(_C_ESCAPES[body[index + 1]])
                index += 2
        text = raw.decode("utf-8")
    return text.removeprefix(prefix)


def files_from_git_diff(diff: str) -> list[PullFile]:
    """Turn `git diff -M` output into the entries GitHub's `pulls/{n}/files` would list."""
    files: list[PullFile] = []
    for block in re.split(r"^diff --git ", diff, flags=re.M)[1:]:
        lines = block.split("\n")
        old = new = None
        status = "modified"
        for line in lines:
            if line.startswith("rename from "):
                old, status = git_path(line[len("rename from "):], ""), "renamed"
            elif line.startswith("rename to "):
                new = git_path(line[len("rename to "):], "")
            elif line.startswith("new file mode"):
                status = "added"
            elif line.startswith("deleted file mode"):
                status = "removed"
            elif line.startswith("--- ") and line != "--- /dev/null":
                old = old or git_path(line[len("--- "):], "a/")
            elif line.startswith("+++ ") and line != "+++ /dev/null":
                new = git_path(line[len("+++ "):], "b/")
            elif line.startswith("@@"):
                break
        if new is None:  # a deletion, a pure rename or a binary file: take the name from the header
            header = _DIFF_HEADER.fullmatch(lines[0])
            assert header is not None, lines[0]
            new = old if status == "removed" else git_path(header["new"], "b/")
            old = old or git_path(header["old"], "a/")
        hunk_start = next((i for i, line in enumerate(lines) if line.startswith("@@")), None)
        patch = None if hunk_start is None else "\n".join(lines[hunk_start:]).rstrip("\n")
        files.append(PullFile(filename=new, patch=patch, status=status,
                              previous_filename=old if status == "renamed" else None))
    return files


class FakeGitHub(LoopbackServer):
    """The fake API's state, its scripted faults and the requests it received."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.read_only = False  # True: the token may read but not write, as without `pull-requests: write`
        self.login = BOT_LOGIN  # whom the token writes as; it may edit only this login's comments
        self.personal = False  # True: a personal token, whose GET /user names `login`; False: an app's token (403)
        self.max_per_page = 100
        self.requests: list[Recorded] = []
        self.pulls: dict[tuple[str, int], _Pull] = {}
        self.issue_comments: dict[tuple[str, int], list[Json]] = {}
        self.reviews: dict[tuple[str, int], list[Json]] = {}
        self.review_comments: dict[tuple[str, int], list[Json]] = {}
        self.secrets: dict[str, dict[str, Json]] = {}
        self.faults: list[Fault] = []
        self.hooks: list[tuple[str, str, Callable[[], object]]] = []
        self._secret_key = PrivateKey.generate()
        self._ids = itertools.count(1001)
        self._lock = threading.Lock()
        super().__init__(_handler_for(self), join_handlers=True)

    @property
    def base_url(self) -> str:
        return f"{self.origin}{PREFIX}"

    # --- configuration -------------------------------------------------------------------

    def set_pull(self, repo: str, number: int, *, head_sha: str, base_sha: str,
                 files: list[PullFile], draft: bool = False) -> None:
        """Create the pull request, or move it to a new head (earlier heads stay valid commit ids)."""
        with self._lock:
            previous = self.pulls.get((repo, number))
            commits = (previous.commits if previous else set()) | {head_sha}
            self.pulls[(repo, number)] = _Pull(repo, number, head_sha, base_sha, draft, list(files), commits)
            for store in (self.issue_comments, self.reviews, self.review_comments):
                store.setdefault((repo, number), [])

    def add_issue_comment(self, repo: str, number: int, body: str, *, login: str = "octocat") -> Json:
        """A comment someone else wrote (a person, or another bot)."""
        with self._lock:
            return self._store_issue_comment(repo, number, body, login)

    def fail_next(self, method: str, path: str, *, times: int = 1, status: int = 502,
                  after_store: bool = False, message: str = "Server Error") -> None:
        """The next `times` calls to METHOD path answer `status`; with after_store the write happens first."""
        self.faults.append(Fault(method, path, times, status, after_store, body={"message": message}))

    def after_next(self, method: str, path: str, action: Callable[[], object]) -> None:
        """Run `action` once, right after the next call to METHOD path is answered: another client acting in between."""
        self.hooks.append((method, path, action))

    def stall_next(self, method: str, path: str, *, seconds: float, after_store: bool = True) -> None:
        """The next call to METHOD path is answered only after `seconds` (by then the client gave up)."""
        self.faults.append(Fault(method, path, 1, 504, after_store, seconds, body={"message": "stalled"}))

    def secondary_rate_limit_next(self, method: str, path: str, *, times: int = 1,
                                  retry_after: int | None = 0, status: int = 403) -> None:
        headers = {} if retry_after is None else {"retry-after": str(retry_after)}
        self.faults.append(Fault(method, path, times, status, headers=headers,
                                 body={"message": _SECONDARY, "documentation_url": _DOCS}))

    def primary_rate_limit_next(self, method: str, path: str, *, times: int = 1, reset_in: int = 0) -> None:
        headers = {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "0",
                   "x-ratelimit-reset": str(int(time.time()) + reset_in)}
        self.faults.append(Fault(method, path, times, 403, headers=headers,
                                 body={"message": "API rate limit exceeded for installation ID 1.",
                                       "documentation_url": _DOCS}))

    # --- inspection ----------------------------------------------------------------------

    def calls(self, method: str | None = None, path: str | None = None) -> list[Recorded]:
        return [r for r in list(self.requests)
                if (method is None or r.method == method) and (path is None or r.path == path)]

    def decrypt_secret(self, repo: str, name: str) -> str:
        value = self.secrets[repo][name]["encrypted_value"]
        return SealedBox(self._secret_key).decrypt(base64.b64decode(value)).decode("utf-8")

    # --- request handling ----------------------------------------------------------------

    def handle(self, method: str, raw_path: str, headers: dict[str, str], raw_body: bytes) -> Response:
        parts = urlsplit(raw_path)
        path = parts.path.removeprefix(PREFIX) if parts.path.startswith(PREFIX + "/") else ""
        query = parse_qs(parts.query)
        try:
            body = json.loads(raw_body) if raw_body else None
        except ValueError:
            body = "<not json>"
        authorized = headers.get("authorization", "") in (f"token {self.token}", f"Bearer {self.token}")
        (status, out_headers, payload), delay = self._respond(method, path, query, body, authorized)
        self.requests.append(Recorded(method, path, query, status, body, authorized))
        time.sleep(delay)  # outside the state lock: other requests go on meanwhile
        hook = next((h for h in self.hooks if h[0] == method and h[1] == path), None)
        if hook is not None:
            self.hooks.remove(hook)
            hook[2]()
        return status, out_headers, payload

    def _respond(self, method: str, path: str, query: dict[str, list[str]], body: Any, authorized: bool
                 ) -> tuple[Response, float]:
        if not authorized:
            return (401, {}, {"message": "Bad credentials", "documentation_url": _DOCS}), 0.0
        if self.read_only and method != "GET":
            return (403, {}, {"message": "Resource not accessible by integration", "documentation_url": _DOCS}), 0.0
        with self._lock:
            fault = next((f for f in self.faults if f.remaining > 0 and f.method == method and f.path == path), None)
            if fault is None:
                return self._route(method, path, query, body), 0.0
            fault.remaining -= 1
            if fault.after_store:
                self._route(method, path, query, body)
            return (fault.status, fault.headers, fault.body), fault.delay

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Response:
        for route_method, pattern, handler in _ROUTES:
            match = re.fullmatch(pattern, path)
            if match and route_method == method:
                return handler(self, query=query, body=body, **match.groupdict())
        return 404, {}, {"message": "Not Found", "documentation_url": _DOCS}

    def _url(self, path: str) -> str:
        return self.base_url + path

    def _page(self, path: str, query: dict[str, list[str]], items: list[Json]) -> Response:
        per_page = min(int(query.get("per_page", ["30"])[0]), self.max_per_page)
        page = int(query.get("page", ["1"])[0])
        last = max(1, -(-len(items) // per_page))
        links = []
        if page < last:
            links.append(f'<{self._url(path)}?{urlencode({"per_page": per_page, "page": page + 1})}>; rel="next"')
            links.append(f'<{self._url(path)}?{urlencode({"per_page": per_page, "page": last})}>; rel="last"')
        headers = {"link": ", ".join(links)} if links else {}
        return 200, headers, items[(page - 1) * per_page: page * per_page]

    def _pull(self, repo: str, number: str) -> _Pull | None:
        return self.pulls.get((repo, int(number)))

    def _store_issue_comment(self, repo: str, number: int, body: str, login: str) -> Json:
        comment_id = next(self._ids)
        comment = {"id": comment_id, "node_id": f"IC_{comment_id}", "body": body,
                   "url": self._url(f"/repos/{repo}/issues/comments/{comment_id}"),
                   "html_url": f"https://github.example/{repo}/pull/{number}#issuecomment-{comment_id}",
                   "issue_url": self._url(f"/repos/{repo}/issues/{number}"),
                   "user": {"login": login, "id": 1, "type": "Bot" if login.endswith("[bot]") else "User"},
                   "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}
        self.issue_comments[(repo, number)].append(comment)
        return comment


def _too_long(text: Any) -> bool:
    return isinstance(text, str) and len(text) > BODY_LIMIT


_TOO_LONG = {"message": "Validation Failed", "errors": [{"resource": "IssueComment", "code": "unprocessable",
             "field": "data", "message": "Body is too long (maximum is 65536 characters)"}],
             "documentation_url": _DOCS}
_UNRESOLVED = {"message": "Unprocessable Entity", "errors": ["Line could not be resolved"], "documentation_url": _DOCS}
_NOT_FOUND = (404, {}, {"message": "Not Found", "documentation_url": _DOCS})


def _get_repo(fake: FakeGitHub, *, repo: str, **_: Any) -> Response:
    if not any(key[0] == repo for key in fake.pulls):
        return _NOT_FOUND
    owner, name = repo.split("/")
    return 200, {}, {"id": 1, "name": name, "full_name": repo, "private": False, "default_branch": "main",
                     "owner": {"login": owner, "id": 2, "type": "Organization"},
                     "url": fake._url(f"/repos/{repo}"), "html_url": f"https://github.example/{repo}"}


def _get_pull(fake: FakeGitHub, *, repo: str, number: str, **_: Any) -> Response:
    pull = fake._pull(repo, number)
    if pull is None:
        return _NOT_FOUND
    base = f"/repos/{repo}"
    return 200, {}, {
        "id": pull.number + 5000, "number": pull.number, "state": "open", "draft": pull.draft, "title": "Change",
        "url": fake._url(f"{base}/pulls/{pull.number}"), "issue_url": fake._url(f"{base}/issues/{pull.number}"),
        "comments_url": fake._url(f"{base}/issues/{pull.number}/comments"),
        "review_comments_url": fake._url(f"{base}/pulls/{pull.number}/comments"),
        "html_url": f"https://github.example/{repo}/pull/{pull.number}",
        "user": {"login": "contributor", "id": 3, "type": "User"},
        "head": {"sha": pull.head_sha, "ref": "feature", "label": "fork:feature",
                 "repo": {"full_name": repo, "url": fake._url(base)}},
        "base": {"sha": pull.base_sha, "ref": "main", "label": "org:main",
                 "repo": {"full_name": repo, "url": fake._url(base)}}}


def _list_files(fake: FakeGitHub, *, repo: str, number: str, query: dict[str, list[str]], **_: Any) -> Response:
    pull = fake._pull(repo, number)
    if pull is None:
        return _NOT_FOUND
    items = []
    for entry in pull.files:
        adds, dels = entry.counts()
        item: Json = {"sha": "0" * 40, "filename": entry.filename, "status": entry.status, "additions": adds,
                      "deletions": dels, "changes": adds + dels}
        if entry.patch is not None:
            item["patch"] = entry.patch
        if entry.previous_filename is not None:
            item["previous_filename"] = entry.previous_filename
        items.append(item)
    return fake._page(f"/repos/{repo}/pulls/{number}/files", query, items)


def _list_issue_comments(fake: FakeGitHub, *, repo: str, number: str, query: dict[str, list[str]],
                         **_: Any) -> Response:
    if fake._pull(repo, number) is None:
        return _NOT_FOUND
    return fake._page(f"/repos/{repo}/issues/{number}/comments", query, fake.issue_comments[(repo, int(number))])


def _create_issue_comment(fake: FakeGitHub, *, repo: str, number: str, body: Any, **_: Any) -> Response:
    if fake._pull(repo, number) is None:
        return _NOT_FOUND
    text = _comment_text(body)
    if not isinstance(text, str):
        return text
    return 201, {}, fake._store_issue_comment(repo, int(number), text, fake.login)


def _comment_text(body: Any) -> str | Response:
    """The comment's text, or GitHub's 422 for a missing or too long one."""
    text = body.get("body") if isinstance(body, dict) else None
    if not isinstance(text, str) or not text:
        return 422, {}, {"message": "Invalid request.\n\n\"body\" wasn't supplied.", "documentation_url": _DOCS}
    if _too_long(text):
        return 422, {}, _TOO_LONG
    return text


def _find_comment(fake: FakeGitHub, repo: str, comment_id: str) -> Json | None:
    for (comment_repo, _number), comments in fake.issue_comments.items():
        for comment in comments:
            if comment_repo == repo and comment["id"] == int(comment_id):
                return comment
    return None


def _get_issue_comment(fake: FakeGitHub, *, repo: str, comment_id: str, **_: Any) -> Response:
    comment = _find_comment(fake, repo, comment_id)
    return _NOT_FOUND if comment is None else (200, {}, comment)


def _edit_issue_comment(fake: FakeGitHub, *, repo: str, comment_id: str, body: Any, **_: Any) -> Response:
    comment = _find_comment(fake, repo, comment_id)
    if comment is None:
        return _NOT_FOUND
    text = _comment_text(body)
    if not isinstance(text, str):
        return text
    if comment["user"]["login"] != fake.login:  # the token may only edit its own comments
        return 403, {}, {"message": "Resource not accessible by integration", "documentation_url": _DOCS}
    comment["body"] = text
    comment["updated_at"] = "2026-01-02T00:00:00Z"
    return 200, {}, comment


def _delete_issue_comment(fake: FakeGitHub, *, repo: str, comment_id: str, **_: Any) -> Response:
    comment = _find_comment(fake, repo, comment_id)
    if comment is None:
        return _NOT_FOUND
    if comment["user"]["login"] != fake.login:
        return 403, {}, {"message": "Resource not accessible by integration", "documentation_url": _DOCS}
    for comments in fake.issue_comments.values():
        if comment in comments:
            comments.remove(comment)
    return 204, {}, None


def _comment_resolves(pull: _Pull, comment: Any) -> bool:
    """GitHub's rule: path in the diff, line (and start_line) commentable on their side, one hunk."""
    if not isinstance(comment, dict) or "position" in comment:
        return False
    entry = next((f for f in pull.files if f.filename == comment.get("path")), None)
    line, side = comment.get("line"), comment.get("side", "RIGHT")
    if entry is None or not isinstance(line, int) or side not in ("LEFT", "RIGHT"):
        return False
    sides = commentable_lines(entry.patch)
    if line not in sides[side]:
        return False
    start_line = comment.get("start_line")
    if start_line is None:
        return "start_side" not in comment
    start_side = comment.get("start_side", side)
    if not isinstance(start_line, int) or start_side not in sides or start_line not in sides[start_side]:
        return False
    if start_side == side and start_line >= line:  # "start line must precede the end line"
        return False
    return sides[start_side][start_line] == sides[side][line]


def _create_review(fake: FakeGitHub, *, repo: str, number: str, body: Any, **_: Any) -> Response:
    pull = fake._pull(repo, number)
    if pull is None:
        return _NOT_FOUND
    if not isinstance(body, dict):
        return 400, {}, {"message": "Problems parsing JSON", "documentation_url": _DOCS}
    event, text = body.get("event"), body.get("body") or ""
    comments = body.get("comments") or []
    if event not in (None, "COMMENT", "APPROVE", "REQUEST_CHANGES") or not isinstance(comments, list):
        return 422, {}, {"message": "Unprocessable Entity", "errors": ["Invalid event"], "documentation_url": _DOCS}
    if event in ("COMMENT", "REQUEST_CHANGES") and not text:
        return 422, {}, {"message": "Unprocessable Entity", "errors": ["Body is required for this event"],
                         "documentation_url": _DOCS}
    if body.get("commit_id", pull.head_sha) not in pull.commits:
        return 422, {}, {"message": "Unprocessable Entity", "errors": ["Commit is not part of the pull request"],
                         "documentation_url": _DOCS}
    if _too_long(text) or any(_too_long(c.get("body")) for c in comments if isinstance(c, dict)):
        return 422, {}, _TOO_LONG
    if not all(_comment_resolves(pull, c) for c in comments):
        return 422, {}, _UNRESOLVED
    review_id = next(fake._ids)
    key = (repo, pull.number)
    review = {"id": review_id, "node_id": f"PRR_{review_id}", "body": text, "commit_id": body.get("commit_id"),
              "state": {"COMMENT": "COMMENTED", "APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED",
                        None: "PENDING"}[event],
              "user": {"login": fake.login, "id": 4, "type": "Bot" if fake.login.endswith("[bot]") else "User"},
              "html_url": f"https://github.example/{repo}/pull/{pull.number}#pullrequestreview-{review_id}",
              "pull_request_url": fake._url(f"/repos/{repo}/pulls/{pull.number}"),
              "submitted_at": "2026-01-01T00:00:00Z"}
    fake.reviews[key].append(review)
    for comment in comments:
        comment_id = next(fake._ids)
        fake.review_comments[key].append({
            **{k: comment[k] for k in ("path", "body", "line", "side", "start_line", "start_side") if k in comment},
            "id": comment_id, "pull_request_review_id": review_id, "commit_id": review["commit_id"],
            "user": review["user"], "url": fake._url(f"/repos/{repo}/pulls/comments/{comment_id}"),
            "html_url": f"https://github.example/{repo}/pull/{pull.number}#discussion_r{comment_id}"})
    return 200, {}, review


def _list_reviews(fake: FakeGitHub, *, repo: str, number: str, query: dict[str, list[str]], **_: Any) -> Response:
    if fake._pull(repo, number) is None:
        return _NOT_FOUND
    return fake._page(f"/repos/{repo}/pulls/{number}/reviews", query, fake.reviews[(repo, int(number))])


def _list_review_comments(fake: FakeGitHub, *, repo: str, number: str, query: dict[str, list[str]],
                          **_: Any) -> Response:
    if fake._pull(repo, number) is None:
        return _NOT_FOUND
    return fake._page(f"/repos/{repo}/pulls/{number}/comments", query, fake.review_comments[(repo, int(number))])


def _secret_public_key(fake: FakeGitHub, **_: Any) -> Response:
    key = base64.b64encode(bytes(fake._secret_key.public_key)).decode("ascii")
    return 200, {}, {"key_id": "fake-key-1", "key": key}


def _put_secret(fake: FakeGitHub, *, repo: str, name: str, body: Any, **_: Any) -> Response:
    if not isinstance(body, dict) or body.get("key_id") != "fake-key-1":
        return 422, {}, {"message": "Bad request: key_id does not match", "documentation_url": _DOCS}
    try:
        base64.b64decode(body["encrypted_value"], validate=True)
    except (KeyError, ValueError, TypeError):
        return 422, {}, {"message": "Bad request: encrypted_value is not base64", "documentation_url": _DOCS}
    store = fake.secrets.setdefault(repo, {})
    created = name not in store
    store[name] = {"name": name, "encrypted_value": body["encrypted_value"], "key_id": body["key_id"]}
    return (201 if created else 204), {}, None


def _get_user(fake: FakeGitHub, **_: Any) -> Response:
    """GitHub answers GET /user for a personal token only; GITHUB_TOKEN and an app's token get a 403."""
    if not fake.personal:
        return 403, {}, {"message": "Resource not accessible by integration", "documentation_url": _DOCS}
    return 200, {}, {"login": fake.login, "id": 5, "type": "User", "url": fake._url(f"/users/{fake.login}")}


def _rate_limit(fake: FakeGitHub, **_: Any) -> Response:
    core = {"limit": 5000, "remaining": 4999, "reset": int(time.time()) + 3600, "used": 1}
    return 200, {}, {"resources": {"core": core, "search": core, "graphql": core}, "rate": core}


_REPO = r"/repos/(?P<repo>[^/]+/[^/]+)"
_ROUTES: list[tuple[str, str, Callable[..., Response]]] = [
    ("GET", r"/rate_limit", _rate_limit),
    ("GET", r"/user", _get_user),
    ("GET", _REPO, _get_repo),
    ("GET", _REPO + r"/pulls/(?P<number>\d+)", _get_pull),
    ("GET", _REPO + r"/pulls/(?P<number>\d+)/files", _list_files),
    ("GET", _REPO + r"/issues/(?P<number>\d+)/comments", _list_issue_comments),
    ("POST", _REPO + r"/issues/(?P<number>\d+)/comments", _create_issue_comment),
    ("GET", _REPO + r"/issues/comments/(?P<comment_id>\d+)", _get_issue_comment),
    ("PATCH", _REPO + r"/issues/comments/(?P<comment_id>\d+)", _edit_issue_comment),
    ("DELETE", _REPO + r"/issues/comments/(?P<comment_id>\d+)", _delete_issue_comment),
    ("GET", _REPO + r"/pulls/(?P<number>\d+)/reviews", _list_reviews),
    ("POST", _REPO + r"/pulls/(?P<number>\d+)/reviews", _create_review),
    ("GET", _REPO + r"/pulls/(?P<number>\d+)/comments", _list_review_comments),
    ("GET", _REPO + r"/actions/secrets/public-key", _secret_public_key),
    ("PUT", _REPO + r"/actions/secrets/(?P<name>[A-Za-z0-9_]+)", _put_secret),
]


def _handler_for(fake: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, out_headers, payload = fake.handle(self.command, self.path, headers, raw)
            data = b"" if payload is None else json.dumps(payload).encode("utf-8")
            rate = {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "4999",
                    "x-ratelimit-reset": str(int(time.time()) + 3600)}
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in {**rate, **out_headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                pass

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

    return Handler


@pytest.fixture(name="github_server")
def github_server_fixture() -> Iterator[FakeGitHub]:
    with FakeGitHub() as server:
        yield server
