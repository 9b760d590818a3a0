"""Ask the model about each unit, concurrently: cache, one repair round, failures recorded per unit."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Literal, Protocol

from qwen_review import output
from qwen_review.errors import QwenReviewError
from qwen_review.parse import AnswerError, ModelAnswer, parse_answer
from qwen_review.review import Message, Request


class Completion(Protocol):
    @property
    def text(self) -> str: ...

    @property
    def finish_reason(self) -> str | None: ...

    @property
    def prompt_tokens(self) -> int: ...

    @property
    def completion_tokens(self) -> int: ...

    @property
    def requests(self) -> int: ...  # HTTP requests sent for it, retries included


class Client(Protocol):
    model: str

    def complete(self, messages: Sequence[Message], *, json_mode: bool = True) -> Completion: ...


class Cache(Protocol):
    def get(self, key: str) -> str | None: ...

    def put(self, key: str, text: str) -> None: ...


@dataclass
class UnitResult:
    request: Request
    answer: ModelAnswer | None = None
    error: str | None = None
    cached: bool = False
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    fatal: QwenReviewError | None = field(default=None, repr=False)
    # Why the unit has no answer: the endpoint ("provider"), the model's text ("answer"), or a bug ("internal").
    cause: Literal["provider", "answer", "internal"] | None = None
    dropped: int = 0  # invalid findings left out of an answer accepted on the repair attempt
    dropped_reason: str | None = None  # what was wrong with them, for a warning in the report


REPAIR = ("Your previous answer could not be used: {error}. Answer again with only the JSON object "
          "described in the instructions, with no text before or after it.")
TRUNCATED = "it was cut off because it was too long; report fewer findings, with shorter bodies"


def ask_unit(client: Client, request: Request, *, cache: Cache | None,
             cache_key: Callable[[str, Sequence[Message]], str], stop: threading.Event) -> UnitResult:
    """One unit: a cached answer, else the model, with one repair round for an invalid answer.

    A bug met on the way (any other exception) fails this unit only, with its class and message.
    """
    result = UnitResult(request)
    try:
        _ask(result, client, cache=cache, cache_key=cache_key, stop=stop)
    except Exception as exc:
        output.log.debug("internal error in the unit for %s", ", ".join(request.files), exc_info=True)
        result.answer, result.dropped, result.dropped_reason = None, 0, None
        result.error = f"internal error: {type(exc).__name__}: {exc}"
        result.cause = "internal"
    return result


def _ask(result: UnitResult, client: Client, *, cache: Cache | None,
         cache_key: Callable[[str, Sequence[Message]], str], stop: threading.Event) -> None:
    request = result.request
    key = cache_key(client.model, request.messages)
    cached = cache.get(key) if cache is not None else None
    if cached is not None:
        try:
            # It was accepted when stored, perhaps on the repair attempt: the same findings are kept again.
            _accept(result, parse_answer(cached, keep_valid=True))
            result.cached = True
            return
        except AnswerError:
            pass  # an entry that no longer validates is ignored, as a corrupt one is
    messages = list(request.messages)
    for attempt in range(2):
        if stop.is_set():
            result.error = "not sent: an earlier unit failed permanently"
            result.cause = "provider"
            return
        try:
            completion = client.complete(messages)
        except QwenReviewError as exc:
            result.calls += getattr(exc, "requests", 0)  # the requests it took to give up
            result.error = exc.message
            result.cause = "provider"
            if getattr(exc, "permanent", False):
                result.fatal = exc
                stop.set()
            return
        result.calls += completion.requests
        result.prompt_tokens += completion.prompt_tokens
        result.completion_tokens += completion.completion_tokens
        try:
            if completion.finish_reason == "length":
                raise AnswerError(TRUNCATED)
            # The first answer must be wholly valid; the repaired one keeps its valid findings.
            answer = parse_answer(completion.text, keep_valid=attempt > 0)
        except AnswerError as exc:
            result.error = f"invalid answer: {exc}"
            result.cause = "answer"
            if attempt == 0:
                messages += [Message("assistant", completion.text), Message("user", REPAIR.format(error=exc))]
            continue
        result.error = result.cause = None
        _accept(result, answer)
        if cache is not None:
            cache.put(key, completion.text)
        return


def _accept(result: UnitResult, answer: ModelAnswer) -> None:
    result.answer = answer
    if answer.dropped:
        result.dropped, result.dropped_reason = answer.dropped, answer.dropped_reason


def ask_all(client: Client, requests: Sequence[Request], *, concurrency: int, cache: Cache | None,
            cache_key: Callable[[str, Sequence[Message]], str],
            progress: Callable[[int, int], None] | None = None) -> list[UnitResult]:
    """Every unit, `concurrency` at a time; results in the order of `requests`."""
    stop = threading.Event()
    results: list[UnitResult | None] = [None] * len(requests)
    pool = ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(requests))), thread_name_prefix="qwen-review-ask")
    try:
        futures = {pool.submit(ask_unit, client, r, cache=cache, cache_key=cache_key, stop=stop): i
                   for i, r in enumerate(requests)}
        for done, future in enumerate(as_completed(futures), start=1):
            results[futures[future]] = future.result()
            if progress is not None:
                progress(done, len(requests))
    except BaseException:
        # Ctrl-C (or a failing progress callback): leave at once. The units not started never are,
        # and the caller closes the client as it unwinds, which aborts the requests in flight.
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return [r for r in results if r is not None]
