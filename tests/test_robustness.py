"""Whole runs over awkward changes: a huge new file, odd file names, bad answers, Ctrl-C."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import string
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from qwen_review.ask import ask_all, ask_unit
from qwen_review.review import Message, Request
from qwen_review.tokens import estimate_tokens
from tests.clirun import run_cli
from tests.fakes.model_server import ModelServer, Reply
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
    for r in requests:  # the chunker's estimate holds for what is really rendered
        assert sum(estimate_tokens(m["content"]) for m in r["messages"]) <= r["estimated_tokens"] <= 6000
    sent = Counter(int(n) for r in requests for n in _NUMBERED_ADDITION.findall(r["messages"][-1]["content"]))
    assert sorted(sent) == list(range(1, 20_001))
    assert set(sent.values()) == {1}
    assert "not shown" not in dry.out


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str | None = "stop"
    prompt_tokens: int = 10
    completion_tokens: int = 5
    requests: int = 1


class ScriptedClient:
    """A model client that answers from a list and records what it was sent."""

    model = "scripted"

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.sent: list[list[Message]] = []

    def complete(self, messages: Sequence[Message], *, json_mode: bool = True) -> Completion:
        self.sent.append(list(messages))
        return Completion(self.answers.pop(0))


class MemoryCache:
    def __init__(self) -> None:
        self.entries: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        return self.entries.get(key)

    def put(self, key: str, text: str) -> None:
        self.entries[key] = text


def _request(name: str = "a.py") -> Request:
    return Request(files=(name,), estimated_tokens=10, messages=(Message("system", "s"), Message("user", name)))


def _key(model: str, messages: Sequence[Message]) -> str:
    return model + "|" + "|".join(m.content for m in messages)


PARTLY_VALID = json.dumps({"summary": "s", "findings": [
    {"path": "a.py", "line": 3, "title": "kept"},
    {"path": "a.py", "line": 4, "title": "bad", "severity": "apocalyptic"},
]})


def test_a_repaired_answer_keeps_its_valid_findings_and_counts_the_dropped_ones() -> None:
    client = ScriptedClient(PARTLY_VALID, PARTLY_VALID)
    cache = MemoryCache()
    result = ask_unit(client, _request(), cache=cache, cache_key=_key, stop=threading.Event())
    assert result.error is None and result.answer is not None
    assert [f.title for f in result.answer.findings] == ["kept"]
    assert (result.calls, result.dropped) == (2, 1)
    assert result.dropped_reason is not None and "findings.1.severity" in result.dropped_reason
    repair = client.sent[1][-1].content  # the first answer went back once, with the reason
    assert "findings.1.severity" in repair
    again = ask_unit(ScriptedClient(), _request(), cache=cache, cache_key=_key, stop=threading.Event())
    assert again.cached and again.answer is not None
    assert ([f.title for f in again.answer.findings], again.dropped) == (["kept"], 1)


@pytest.fixture
def latin1_named(repo: GitRepo) -> GitRepo:
    """A commit adding `café.py` whose name is Latin-1 bytes (not UTF-8), as old tools write them."""
    repo.write("README", "base\n")
    repo.commit("base")
    with open(os.path.join(os.fsencode(repo.path), b"caf\xe9.py"), "wb") as handle:
        handle.write(b"def price(item):\n    return item.cost * 2\n")
    repo.write("ok.py", "x = 1\n")
    repo.git("-c", "core.quotepath=off", "add", "-A")
    repo.git("-c", "core.quotepath=off", "commit", "-q", "-m", "latin-1 name")
    return repo


def test_a_file_name_that_is_not_utf8_is_reviewed(latin1_named: GitRepo, model_server: ModelServer,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    dry = run_cli(latin1_named.path, "HEAD~1", "--dry-run", "-f", "json", capsys=capsys)
    assert dry.code == 0, dry.err
    report = dry.json()
    paths = sorted(f["path"] for f in report["files"])
    assert paths == ["caf\ufffd.py", "ok.py"]
    assert "caf\ufffd.py" in report["requests"][0]["messages"][-1]["content"]
    env = {"OPENAI_API_KEY": "sk-test-key-for-the-fake-server", "OPENAI_BASE_URL": model_server.base_url,
           "OPENAI_MODEL": "qwen-test"}
    model_server.script(Reply(text=json.dumps({"summary": "s", "findings": [
        {"path": "caf\ufffd.py", "line": 2, "severity": "low", "title": "Magic number"}]})))
    real = run_cli(latin1_named.path, "HEAD~1", "-f", "json", "--no-cache", capsys=capsys, env=env)
    assert real.code == 0, real.err
    report = real.json()
    assert report["stats"]["failed_units"] == 0
    assert [(f["path"], f["line"], f["anchored"]) for f in report["findings"]] == [("caf\ufffd.py", 2, True)]
    (request,) = model_server.requests
    assert "caf\ufffd.py" in request.prompt_text
    for text in (dry.out, real.out):  # never a lone surrogate, which no UTF-8 writer accepts
        text.encode("utf-8")


def test_a_type_change_of_a_file_whose_name_is_not_utf8(latin1_named: GitRepo,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    name = os.path.join(os.fsencode(latin1_named.path), b"caf\xe9.py")
    os.remove(name)
    os.symlink(b"ok.py", name)
    latin1_named.git("-c", "core.quotepath=off", "commit", "-q", "-a", "-m", "now a link")
    dry = run_cli(latin1_named.path, "HEAD~1", "--dry-run", "-f", "json", capsys=capsys)
    assert dry.code == 0, dry.err
    (changed,) = dry.json()["files"]
    assert (changed["path"], changed["status"]) == ("caf\ufffd.py", "type_changed")


class BrokenOnClient(ScriptedClient):
    """Answers every unit but one, on which it hits a bug (not a provider error)."""

    def __init__(self, broken: str) -> None:
        super().__init__()
        self.broken = broken
        self.lock = threading.Lock()

    def complete(self, messages: Sequence[Message], *, json_mode: bool = True) -> Completion:
        if messages[-1].content == self.broken:
            raise RuntimeError("unexpected state in the client")
        with self.lock:
            self.sent.append(list(messages))
        return Completion('{"summary": "fine", "findings": []}')


def test_an_unexpected_error_in_one_unit_fails_that_unit_only() -> None:
    requests = [_request(name) for name in ("a.py", "b.py", "c.py")]
    results = ask_all(BrokenOnClient("b.py"), requests, concurrency=2, cache=None, cache_key=_key)
    assert [r.request.files for r in results] == [("a.py",), ("b.py",), ("c.py",)]
    assert [r.answer is not None for r in results] == [True, False, True]
    assert results[1].error == "internal error: RuntimeError: unexpected state in the client"
    assert results[0].error is None and results[2].error is None


class HangingClient(ScriptedClient):
    """A model that does not answer until released (or 30 s have passed, on a very busy machine)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.started = threading.Event()

    def complete(self, messages: Sequence[Message], *, json_mode: bool = True) -> Completion:
        self.sent.append(list(messages))  # list.append is atomic: no lock needed
        self.started.set()
        self.release.wait(30)
        return Completion('{"summary": "late", "findings": []}')


def test_ctrl_c_does_not_wait_for_the_requests_in_flight() -> None:
    client = HangingClient()
    requests = [_request(f"f{n}.py") for n in range(4)]

    def press_ctrl_c() -> None:
        if client.started.wait(30):
            time.sleep(0.2)  # the main thread is waiting for answers by now
            # A real SIGINT to the main thread, as a terminal sends: it interrupts the blocked wait.
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

    timer = threading.Thread(target=press_ctrl_c)
    timer.start()
    began = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            ask_all(client, requests, concurrency=2, cache=None, cache_key=_key)
        elapsed = time.monotonic() - began
    finally:
        client.release.set()
        timer.join()
        for thread in threading.enumerate():  # the workers end once their model call returns
            if thread.name.startswith("qwen-review-ask"):
                thread.join()
    assert elapsed < 1.5
    assert len(client.sent) == 2  # the units not yet started were never sent


def test_a_secret_in_a_deleted_file_never_reaches_a_report(repo: GitRepo, model_server: ModelServer,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    key = "AK" + "IA" + "".join(random.Random(7).choices(string.ascii_uppercase + string.digits, k=16))
    repo.write("settings.py", f"DEBUG = False\nAWS_ACCESS_KEY_ID = '{key}'\n")
    repo.write("app.py", "import settings\n")
    repo.commit("base")
    repo.git("rm", "-q", "settings.py")
    repo.write("app.py", "import os\n")
    repo.commit("drop settings")
    env = {"OPENAI_API_KEY": "sk-test-key-for-the-fake-server", "OPENAI_BASE_URL": model_server.base_url,
           "OPENAI_MODEL": "qwen-test"}
    # The model cites the deleted line: the text report shows it as an excerpt.
    cites_it = json.dumps({"summary": "s", "findings": [
        {"path": "settings.py", "line": 2, "side": "LEFT", "severity": "medium", "title": "Config removed"}]})
    for fmt in ("text", "json", "markdown", "sarif"):
        model_server.script(Reply(text=cites_it))
        result = run_cli(repo.path, "HEAD~1", "-f", fmt, "--no-cache", capsys=capsys, env=env)
        assert result.code == 0, result.err
        assert key[4:] not in result.out + result.err, fmt
    assert key[4:] not in "\n".join(r.prompt_text for r in model_server.requests)
    report = run_cli(repo.path, "HEAD~1", "-f", "json", capsys=capsys, env=env).json()  # the model finds nothing now
    local = [f for f in report["findings"] if f["path"] == "settings.py" and f["category"] == "security"]
    assert [(f["line"], f["side"]) for f in local] == [(2, "LEFT")]


def test_ctrl_c_on_the_command_line_leaves_at_once_while_a_model_call_is_in_flight(
        repo: GitRepo, model_server: ModelServer) -> None:
    repo.write("app.py", "print('hello')\n")
    repo.commit("base")
    repo.write("app.py", "print('hello, world')\n")
    repo.commit("change")
    model_server.fallback = Reply(delay=30)  # the model takes its time
    env = {**os.environ, "OPENAI_API_KEY": "sk-test-key-for-the-fake-server",
           "OPENAI_BASE_URL": model_server.base_url, "OPENAI_MODEL": "qwen-test"}
    proc = subprocess.Popen([sys.executable, "-m", "qwen_review", "HEAD~1", "--no-cache"], cwd=repo.path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not model_server.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        assert model_server.requests, "the model call never started"
        proc.send_signal(signal.SIGINT)
        sent = time.monotonic()
        out, err = proc.communicate(timeout=25)
        elapsed = time.monotonic() - sent
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 130
    assert elapsed < 5  # not the 30 s the answer would take
    assert err.strip().splitlines()[-1] == "qwen-review: error: interrupted"
    assert out == ""  # no report, not half of one
    assert "Traceback" not in err and "Exception ignored" not in err
