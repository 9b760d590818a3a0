"""Chat completions against any OpenAI-compatible endpoint: retries, JSON-mode fallback, credential refresh.

The only module that imports `openai`, and only when a client is built, so fast paths never load it.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, cast
from urllib.parse import urlsplit

from qwen_review.errors import CredentialsError, ProviderError, QwenReviewError
from qwen_review.providers.retry import Action, Attempts, RetryBudget, RetryPolicy, classify_status, parse_retry_after
from qwen_review.scrub import scrub

if TYPE_CHECKING:
    import openai
    from openai.types.chat import ChatCompletionMessageParam

    from qwen_review.review import Message

REQUEST_TIMEOUT_CAP = 120.0  # one HTTP call never waits longer than this, whatever the budget left
# A connection (TCP and TLS) not made within this is not going to be: the host is unreachable (a VPN
# that is down, a firewall that drops packets). Without it a hook would wait out its whole budget.
CONNECT_TIMEOUT = 5.0
_MAX_DETAIL = 300


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    requests: int = 1  # HTTP requests it took, retries included


class ModelCallError(ProviderError):
    """A model call failed (exit 3); `permanent` means later calls would fail the same way (quota, access)."""

    def __init__(self, message: str, *, status: int | None = None, permanent: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.permanent = permanent


class ModelAuthError(CredentialsError):
    """The endpoint rejected the credentials (exit 2): log in again or fix the key. Always permanent."""

    permanent = True

    def __init__(self, message: str, *, status: int | None = None, oauth: bool = False) -> None:
        hint = ("Run `qwen-review auth login` again (or renew QWEN_OAUTH_REFRESH_TOKEN in CI)." if oauth
                else "Check OPENAI_API_KEY (and that this key may use the model).")
        super().__init__(message, hint=hint)
        self.status = status


def is_permanent(exc: BaseException) -> bool:
    """True when sending more units after `exc` is pointless (quota, auth, wrong endpoint)."""
    return bool(getattr(exc, "permanent", False))


def _error_text(body: object) -> str:
    """The endpoint's own words from an error body: message plus code/type, in whatever shape it came."""
    if isinstance(body, Mapping):
        parts = [body.get(name) for name in ("message", "detail", "error", "code", "type")]
        return " ".join(str(p) for p in parts if p and not isinstance(p, Mapping | list)) or str(dict(body))
    return "" if body is None else str(body)


class ChatClient:
    """One pooled, thread-safe client per run, shared by the worker threads that review units."""

    def __init__(self, *, base_url: str, api_key: str, model: str, timeout_budget: RetryBudget | float,
                 max_retries: int = 5, refresh_token: Callable[[], str] | None = None,
                 extra_headers: Mapping[str, str] | None = None, max_connections: int = 16,
                 backoff_base: float = 0.5, backoff_cap: float = 20.0, request_timeout_cap: float = REQUEST_TIMEOUT_CAP,
                 connect_timeout: float = CONNECT_TIMEOUT, temperature: float | None = None,
                 max_tokens: int | None = None) -> None:
        import httpx2
        import openai

        self.model = model
        self.base_url = base_url
        self.budget = timeout_budget if isinstance(timeout_budget, RetryBudget) else RetryBudget(timeout_budget)
        self.policy = RetryPolicy(max_retries=max_retries, base_delay=backoff_base, max_delay=backoff_cap)
        self._host = urlsplit(base_url).hostname or base_url
        self._request_timeout_cap = request_timeout_cap
        self._connect_timeout = connect_timeout
        self._temperature = temperature
        self._max_tokens = max_tokens
        self._refresh_token = refresh_token
        self._lock = threading.RLock()  # re-entered by _fail() when a refresh fails
        self._key = api_key
        self._secrets: set[str] = set()  # every key this client has held, scrubbed from messages
        self._remember_secret(api_key)
        self._remember_secret(urlsplit(base_url).password)  # a gateway password in the URL
        self._generation = 0  # bumped by each refresh, so concurrent 401s refresh only once
        self._json_mode_supported = True
        self._permanent: ModelCallError | ModelAuthError | None = None
        self._stopped = threading.Event()
        self._rng = random.Random()
        limits = httpx2.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._client = openai.OpenAI(
            base_url=base_url, api_key=api_key or "none", max_retries=0,  # our policy rules, not the SDK's
            timeout=request_timeout_cap, default_headers=dict(extra_headers or {}),
            http_client=openai.DefaultHttpxClient(limits=limits))

    @property
    def json_mode_supported(self) -> bool:
        """False once the endpoint rejected response_format; later calls then ask for plain text."""
        return self._json_mode_supported

    def complete(self, messages: Sequence[Message], *, json_mode: bool = True) -> Completion:
        """Send one chat request, retrying per the policy; raises ModelCallError or ModelAuthError.

        The completion, or the error, carries `requests`: how many HTTP requests were sent for it.
        """
        sent = [0]
        try:
            return replace(self._complete(messages, json_mode=json_mode, sent=sent), requests=sent[0])
        except QwenReviewError as exc:
            exc.requests = sent[0]  # type: ignore[attr-defined]
            raise

    def _complete(self, messages: Sequence[Message], *, json_mode: bool, sent: list[int]) -> Completion:
        import httpx2
        import openai

        payload = cast("list[ChatCompletionMessageParam]", [{"role": m.role, "content": m.content} for m in messages])
        omit = openai.omit
        attempts = Attempts(self.policy, rng=self._rng.random)
        refreshed = False
        last_error: str | None = None
        while True:
            self._raise_if_stopped()
            use_json = json_mode and self._json_mode_supported
            generation, key = self._credentials()
            timeout = min(self.budget.remaining(), self._request_timeout_cap)
            if timeout < self.policy.min_attempt_seconds:
                raise self._gave_up_error(attempts, last_error)
            retry_after: float | None = None
            connect_timeout = min(self._connect_timeout, timeout)
            sent[0] += 1
            try:
                response = self._client.chat.completions.create(
                    model=self.model, messages=payload, timeout=httpx2.Timeout(timeout, connect=connect_timeout),
                    extra_headers={"Authorization": f"Bearer {key}"} if key else None,
                    response_format={"type": "json_object"} if use_json else omit,
                    temperature=omit if self._temperature is None else self._temperature,
                    max_tokens=omit if self._max_tokens is None else self._max_tokens)
            except openai.APIStatusError as exc:
                status = exc.status_code
                detail = self._scrub(_error_text(exc.body) or exc.message)
                last_error = f"HTTP {status}: {detail}"
                if status == 404:  # mostly a base URL without its /v1, or a model the server does not have
                    last_error += f" (check that the base URL ends in /v1 and that model {self.model!r} exists there)"
                action = classify_status(status, detail, json_mode=use_json)
                retry_after = parse_retry_after(exc.response.headers)
                if retry_after is not None:
                    last_error += f" (Retry-After {retry_after:g} s)"
                if action is Action.REFRESH and self._refresh_token is not None and not refreshed:
                    refreshed = True
                    self._refresh(generation)
                    continue
                if action in (Action.REFRESH, Action.DENIED):  # rejected after a refresh, or not allowed at all
                    raise self._fail(ModelAuthError(self._message(last_error), status=status,
                                                    oauth=self._refresh_token is not None)) from None
                if action is Action.DROP_JSON_MODE:
                    self._json_mode_supported = False  # remembered: later calls go straight to plain text
                    continue
                if action in (Action.FAIL, Action.FAIL_PERMANENT):
                    error = ModelCallError(self._message(last_error), status=status,
                                           permanent=action is Action.FAIL_PERMANENT)
                    # `from None`: the SDK's own message repeats the body, where some endpoints echo part of the key.
                    raise (self._fail(error) if error.permanent else error) from None
            except openai.APITimeoutError as exc:
                if any(isinstance(e, httpx2.ConnectTimeout) for e in _causes(exc)):
                    # Retried like a refused connection: at most twice, since the host is unreachable.
                    action, last_error = Action.RETRY_REFUSED, f"no connection within {connect_timeout:g} s"
                else:
                    action, last_error = Action.RETRY, f"no answer within {timeout:.1f} s"
            except openai.APIConnectionError as exc:
                refused = _is_refused(exc)
                action = Action.RETRY_REFUSED if refused else Action.RETRY
                last_error = "connection refused" if refused else f"connection failed ({_cause_name(exc)})"
            except openai.OpenAIError as exc:
                raise ModelCallError(self._message(self._scrub(str(exc)))) from None
            except RuntimeError:
                if not self._stopped.is_set():
                    raise
                self._raise_if_stopped()  # close() raced this request: the HTTP client refuses to send
            else:
                return self._completion(response)
            delay = attempts.next_delay(action, retry_after=retry_after, remaining=self.budget.remaining())
            if delay is None:
                raise self._gave_up_error(attempts, last_error)
            if self._stopped.wait(delay):
                self._raise_if_stopped()

    def close(self) -> None:
        """Close pooled connections and wake any request waiting to retry (it then fails)."""
        self._stopped.set()
        self._client.close()

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- helpers ---

    def _credentials(self) -> tuple[int, str]:
        with self._lock:
            return self._generation, self._key

    def _refresh(self, generation: int) -> None:
        """Swap in a fresh key, unless another thread already did since `generation` was read."""
        assert self._refresh_token is not None
        with self._lock:
            if self._generation != generation:
                return
            try:
                new_key = self._refresh_token()
            except CredentialsError as exc:  # the refresh token itself was rejected: log in again
                raise self._fail(ModelAuthError(f"credential refresh failed: {self._scrub(exc.message)}",
                                                status=401)) from exc
            except QwenReviewError as exc:  # the token endpoint is down: no request can be authorised now
                raise self._fail(ModelCallError(f"credential refresh failed: {self._scrub(exc.message)}",
                                                permanent=True)) from exc
            self._key = new_key
            self._remember_secret(new_key)
            self._generation += 1

    def _remember_secret(self, key: str | None) -> None:
        if key and len(key) >= 4:  # scrubbing a 1-3 character placeholder ("x") would garble every message
            with self._lock:
                self._secrets.add(key)

    def _fail(self, error: ModelCallError | ModelAuthError) -> ModelCallError | ModelAuthError:
        """Remember a permanent failure: waiting and later requests end with it instead of calling again."""
        with self._lock:
            if self._permanent is None:
                self._permanent = error
        self._stopped.set()
        return error

    def _raise_if_stopped(self) -> None:
        if not self._stopped.is_set():
            return
        first = self._permanent
        if isinstance(first, ModelAuthError):
            raise ModelAuthError(first.message, status=first.status)
        if first is not None:
            raise ModelCallError(first.message, status=first.status, permanent=True)
        raise ModelCallError("model client closed before the request finished")

    def _gave_up_error(self, attempts: Attempts, last_error: str | None) -> ModelCallError:
        if last_error is None:
            return ModelCallError(self._message(f"not sent: the {self.budget.seconds:g} s time budget is used up"))
        tries = attempts.retries + 1
        why = attempts.gave_up if attempts.gave_up not in (None, "time budget") else (
            f"the {self.budget.seconds:g} s time budget")
        return ModelCallError(self._message(f"{last_error} (gave up after {tries} attempt{'s' * (tries > 1)}: "
                                            f"{why} used up)"))

    def _completion(self, response: openai.types.chat.ChatCompletion) -> Completion:
        """The answer text, finish_reason and usage; a body without choices (an error in a 200) fails."""
        choices = getattr(response, "choices", None)
        if not choices:
            raise ModelCallError(self._message(f"answer had no choices: {self._scrub(str(response))}"))
        choice = choices[0]
        usage = getattr(response, "usage", None)
        content = getattr(getattr(choice, "message", None), "content", None)
        return Completion(text=content if isinstance(content, str) else "",
                          finish_reason=getattr(choice, "finish_reason", None),
                          prompt_tokens=getattr(usage, "prompt_tokens", None) or 0,
                          completion_tokens=getattr(usage, "completion_tokens", None) or 0)

    def _message(self, detail: str) -> str:
        return f"model request to {self._host} failed: {detail}"

    def _scrub(self, text: str) -> str:
        """One line, bounded, with every key this client has held replaced."""
        with self._lock:
            secrets = list(self._secrets)
        text = " ".join(scrub(text, secrets).split())
        return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 3] + "..."


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _is_refused(exc: BaseException) -> bool:
    """ECONNREFUSED somewhere in the chain (nothing listens): retried at most twice, not five times."""
    return any(isinstance(e, ConnectionRefusedError) or "connection refused" in str(e).lower()
               or "errno 111" in str(e).lower() for e in _causes(exc))


def _cause_name(exc: BaseException) -> str:
    return type(_causes(exc)[-1]).__name__
