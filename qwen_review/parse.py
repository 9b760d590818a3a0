"""Turn model text into a validated `ModelAnswer`; explain what was wrong so the model can repair it."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from qwen_review.review import Finding, Severity

_SEVERITY_ALIASES = {
    "informational": "info", "information": "info", "note": "info", "nit": "info", "minor": "low",
    "warning": "medium", "moderate": "medium", "major": "high", "error": "high", "blocker": "critical",
}
_FENCE = re.compile(r"```(?:json|JSON)?\s*\n(.*?)```", re.DOTALL)
_THINKING = re.compile(r"\A\s*<think>.*?(?:</think>|\Z)", re.DOTALL)  # only before the answer


class AnswerError(ValueError):
    """The model's text is not a valid answer; the message is fed back to the model once."""


_TITLE_MAX = 300


class ModelFinding(BaseModel):
    """One finding as the model writes it; lenient where models commonly deviate, strict elsewhere."""

    model_config = ConfigDict(extra="ignore")

    path: str = Field(min_length=1)
    line: int | None = Field(default=None, ge=1)
    end_line: int | None = Field(default=None, ge=1)
    side: Literal["LEFT", "RIGHT"] = "RIGHT"
    severity: Severity = "medium"
    category: str = "general"
    title: str = Field(min_length=1, max_length=_TITLE_MAX)
    body: str = ""
    quote: str | None = None
    suggestion: str | None = None

    @field_validator("side", mode="before")
    @classmethod
    def _side(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("severity", mode="before")
    @classmethod
    def _severity(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().lower()
            return _SEVERITY_ALIASES.get(value, value)
        return value

    @field_validator("category", mode="before")
    @classmethod
    def _category(cls, value: Any) -> Any:
        if value is None:
            return "general"
        return value.strip().lower() or "general" if isinstance(value, str) else value

    @field_validator("body", mode="before")
    @classmethod
    def _body(cls, value: Any) -> Any:
        return "" if value is None else value

    @field_validator("title", mode="before")
    @classmethod
    def _title(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            if len(value) > _TITLE_MAX:  # a body written as the title: keep its start
                value = value[:_TITLE_MAX - 1].rstrip() + "…"
        return value

    @field_validator("line", "end_line", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        # Models write "12" as often as 12, and 0 or -1 for "the whole file": that is a file-level finding.
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value.strip())
        if isinstance(value, int | float) and not isinstance(value, bool) and value < 1:
            return None
        return value

    @model_validator(mode="after")
    def _range(self) -> ModelFinding:
        if self.end_line is not None and (self.line is None or self.end_line < self.line):
            self.end_line = None  # a backwards or headless range: keep the finding on its first line
        return self


class ModelAnswer(BaseModel):
    """The model's answer; `dropped` and `dropped_reason` are ours: the invalid findings left out."""

    model_config = ConfigDict(extra="ignore")

    summary: str = ""
    findings: list[ModelFinding] = Field(default_factory=list)
    dropped: int = 0
    dropped_reason: str = ""


def extract_json(text: str) -> Any:
    """Raw JSON, JSON in a code fence, or the first JSON object in a longer text.

    Reasoning models (Qwen3 through some servers) may put their thinking before the answer in
    `<think>` tags; braces in it, or in prose after the object, must not hide the answer.
    """
    text = _THINKING.sub("", text)
    stripped = text.strip()
    candidates = [stripped, *(m.group(1) for m in _FENCE.finditer(text))]
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    decoder = json.JSONDecoder()
    found: Any = None
    for match in itertools.islice(re.finditer(r"\{", stripped), 200):  # answers are short; bound the work
        try:
            value, _ = decoder.raw_decode(stripped, match.start())
        except ValueError:
            continue
        if isinstance(value, dict) and ("findings" in value or "summary" in value):
            return value
        if found is None:
            found = value  # some other object: the answer only if nothing better follows
    if found is not None:
        return found
    raise AnswerError("the answer is not a JSON object: reply with only the JSON object described above")


def parse_answer(text: str, *, keep_valid: bool = False) -> ModelAnswer:
    """The answer in `text`; any invalid finding is an AnswerError, unless `keep_valid` (the repair
    attempt), which keeps the valid findings, if there are any, and counts the others in `dropped`."""
    data = extract_json(text)
    if isinstance(data, list):
        data = {"findings": data}
    if not isinstance(data, dict):
        raise AnswerError("the answer must be a JSON object with keys summary and findings")
    summary = data.get("summary")
    if summary is not None and not isinstance(summary, str):
        raise AnswerError("the JSON does not match the schema: summary: must be a string")
    items = data.get("findings")
    if items is None:
        items = []
    if not isinstance(items, list):
        raise AnswerError("the JSON does not match the schema: findings: must be a list of finding objects")
    findings: list[ModelFinding] = []
    problems: list[str] = []
    for index, item in enumerate(items):
        try:
            findings.append(ModelFinding.model_validate(item))
        except ValidationError as exc:
            problems += [_problem(("findings", index, *err["loc"]), err["msg"]) for err in exc.errors()]
    reason = "; ".join(problems[:8])
    # With nothing valid left, the unit's review is lost: a failed unit says so, an empty answer would not.
    if problems and (not keep_valid or not findings):
        raise AnswerError(f"the JSON does not match the schema: {reason}")
    dropped = len(items) - len(findings)
    return ModelAnswer(summary=summary or "", findings=findings, dropped=dropped,
                       dropped_reason=reason if dropped else "")


def _problem(location: tuple[Any, ...], message: str) -> str:
    return f"{'.'.join(str(part) for part in location)}: {message}"


def to_findings(answer: ModelAnswer) -> list[Finding]:
    return [
        Finding(
            path=f.path.strip(), line=f.line, end_line=f.end_line, side=f.side, severity=f.severity,
            category=f.category, title=f.title.strip(), body=f.body.strip(),
            suggestion=f.suggestion, quote=f.quote,
        )
        for f in answer.findings
    ]
