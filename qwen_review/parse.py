"""Turn model text into a validated `ModelAnswer`; explain what was wrong so the model can repair it."""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from qwen_review.review import Finding, Severity

_SEVERITY_ALIASES = {
    "informational": "info", "information": "info", "note": "info", "nit": "info", "minor": "low",
    "warning": "medium", "moderate": "medium", "major": "high", "error": "high", "blocker": "critical",
}
_FENCE = re.compile(r"```(?:json|JSON)?\s*\n(.*?)```", re.DOTALL)


class AnswerError(ValueError):
    """The model's text is not a valid answer; the message is fed back to the model once."""


class ModelFinding(BaseModel):
    model_config = ConfigDict(extra="ignore")

    path: str = Field(min_length=1)
    line: int | None = Field(default=None, ge=1)
    end_line: int | None = Field(default=None, ge=1)
    side: Literal["LEFT", "RIGHT"] = "RIGHT"
    severity: Severity = "medium"
    category: str = "general"
    title: str = Field(min_length=1, max_length=300)
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
        return value.strip().lower() or "general" if isinstance(value, str) else value

    @field_validator("line", "end_line", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        # Models write "12" as often as 12; null stays null.
        if isinstance(value, str) and value.strip().isdigit():
            return int(value.strip())
        return value


class ModelAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    summary: str = ""
    findings: list[ModelFinding] = Field(default_factory=list)


def extract_json(text: str) -> Any:
    """Raw JSON, JSON in a code fence, or the outermost {...} of a longer text."""
    stripped = text.strip()
    candidates = [stripped]
    candidates += [m.group(1) for m in _FENCE.finditer(text)]
    start, end = stripped.find("{"), stripped.rfind("}")
    if 0 <= start < end:
        candidates.append(stripped[start : end + 1])
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    raise AnswerError("the answer is not a JSON object: reply with only the JSON object described above")


def parse_answer(text: str) -> ModelAnswer:
    data = extract_json(text)
    if isinstance(data, list):
        data = {"findings": data}
    if not isinstance(data, dict):
        raise AnswerError("the answer must be a JSON object with keys summary and findings")
    try:
        return ModelAnswer.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()[:8]
        )
        raise AnswerError(f"the JSON does not match the schema: {problems}") from exc


def to_findings(answer: ModelAnswer) -> list[Finding]:
    return [
        Finding(
            path=f.path.strip(), line=f.line, end_line=f.end_line, side=f.side, severity=f.severity,
            category=f.category, title=f.title.strip(), body=f.body.strip(),
            suggestion=f.suggestion, quote=f.quote,
        )
        for f in answer.findings
    ]
