"""SARIF 2.1.0 for code-scanning tools: one run, one rule per finding category."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

from qwen_review import __version__
from qwen_review.review import Finding, Review, severity_rank

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
# The project home page shown by SARIF viewers next to the tool name.
INFORMATION_URI = "https://github.com/qwen-review/qwen-review"
FINGERPRINT_KEY = "qwenReview/v1"
SRCROOT = "%SRCROOT%"

LEVELS = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}


def rule_id(category: str) -> str:
    """A stable rule id from the model's free-text category (`Bug Risk` -> `bug-risk`)."""
    slug = re.sub(r"[^a-z0-9]+", "-", category.lower()).strip("-")
    return slug or "general"


def artifact_uri(path: str) -> str:
    """A repository-relative path as a relative URI reference (spaces and non-ASCII percent-encoded)."""
    return quote(path, safe="/")


def render_sarif(review: Review) -> str:
    """The review as a SARIF 2.1.0 log (JSON text ending with a newline)."""
    findings = sorted(review.findings, key=lambda f: (f.path, f.line or 0, -severity_rank(f.severity)))
    rule_ids = sorted({rule_id(f.category) for f in findings})
    index = {rid: i for i, rid in enumerate(rule_ids)}
    categories = {rule_id(f.category): f.category.strip() or "general" for f in findings}
    rules = [
        {
            "id": rid,
            "name": _rule_name(rid),
            "shortDescription": {"text": f"qwen-review: {categories[rid]}"},
            "properties": {"tags": [rid]},
        }
        for rid in rule_ids
    ]
    run: dict[str, Any] = {
        "tool": {
            "driver": {"name": "qwen-review", "version": __version__, "informationUri": INFORMATION_URI, "rules": rules}
        },
        "originalUriBaseIds": {SRCROOT: {"description": {"text": "The root of the reviewed repository."}}},
        "invocations": [_invocation(review)],
        "results": [_result(f, index[rule_id(f.category)]) for f in findings],
        "properties": {
            "target": {
                "kind": review.target.kind,
                "spec": review.target.spec,
                "base": review.target.base_commit,
                "head": review.target.head_commit,
            },
            "summary": review.summary,
            "dryRun": review.dry_run,
        },
    }
    log = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"


def _rule_name(rid: str) -> str:
    return "".join(part.capitalize() for part in rid.split("-"))


def _result(finding: Finding, rule_index: int) -> dict[str, Any]:
    text = finding.title.strip()
    if finding.body.strip():
        text += "\n\n" + finding.body.strip()
    result: dict[str, Any] = {
        "ruleId": rule_id(finding.category),
        "ruleIndex": rule_index,
        "level": LEVELS.get(finding.severity, "note"),
        "message": {"text": text or "(no message)"},
    }
    region = _region(finding)
    if finding.path:
        physical: dict[str, Any] = {"artifactLocation": {"uri": artifact_uri(finding.path), "uriBaseId": SRCROOT}}
        if region is not None:
            physical["region"] = region
        result["locations"] = [{"physicalLocation": physical}]
    if finding.fingerprint:
        result["partialFingerprints"] = {FINGERPRINT_KEY: finding.fingerprint}
    if finding.suggestion is not None and region is not None:
        # Whole-line region: the replacement excludes the last line's newline, as the region does.
        result["fixes"] = [{
            "description": {"text": "Suggested replacement"},
            "artifactChanges": [{
                "artifactLocation": {"uri": artifact_uri(finding.path), "uriBaseId": SRCROOT},
                "replacements": [{"deletedRegion": region, "insertedContent": {"text": finding.suggestion.rstrip("\n")}}],
            }],
        }]
    properties: dict[str, Any] = {
        "severity": finding.severity,
        "category": finding.category,
        "anchored": finding.anchored,
        "side": finding.side,
        "tags": [rule_id(finding.category)],
    }
    if finding.line is not None and region is None:
        # Old-side or unpinned line numbers do not address the head file; kept for reference only.
        properties["line"] = finding.line
        if finding.end_line is not None:
            properties["endLine"] = finding.end_line
    if finding.local:
        properties["local"] = True
    result["properties"] = properties
    return result


def _region(finding: Finding) -> dict[str, int] | None:
    """Only anchored new-side lines are lines of the file as it is at the reviewed head."""
    if not finding.anchored or finding.side != "RIGHT" or finding.line is None or finding.line < 1:
        return None
    end = finding.end_line if finding.end_line is not None and finding.end_line >= finding.line else finding.line
    return {"startLine": finding.line, "endLine": end}


def _invocation(review: Review) -> dict[str, Any]:
    """Failed units and skipped files as notifications, so a SARIF reader sees what was not reviewed."""
    notes: list[dict[str, Any]] = []
    for unit in review.failed_units:
        notes.append({
            "level": "error",
            "message": {"text": f"not reviewed ({unit.reason}): {', '.join(unit.files)}"},
            "locations": [_file_location(path) for path in unit.files],
        })
    for file in review.files:
        if file.skipped:
            notes.append({
                "level": "note",
                "message": {"text": f"skipped ({file.skipped}): {file.path}"},
                "locations": [_file_location(file.path)],
            })
    return {"executionSuccessful": not review.failed_units, "toolExecutionNotifications": notes}


def _file_location(path: str) -> dict[str, Any]:
    return {"physicalLocation": {"artifactLocation": {"uri": artifact_uri(path), "uriBaseId": SRCROOT}}}
