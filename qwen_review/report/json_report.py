"""The `qwen-review/report@1` JSON document (DESIGN.md, "JSON report")."""

from __future__ import annotations

import json
from typing import Any

import orjson

from qwen_review import __version__
from qwen_review.diff import FileDiff
from qwen_review.review import Finding, Review

SCHEMA = "qwen-review/report@1"


def report_dict(review: Review) -> dict[str, Any]:
    target = review.target
    stats = review.stats
    return {
        "schema": SCHEMA,
        "tool": {"name": "qwen-review", "version": __version__},
        "target": {"kind": target.kind, "spec": target.spec,
                   "base": target.base_commit, "head": target.head_commit},
        "provider": {"kind": review.provider.kind, "model": review.provider.model,
                     "base_url": review.provider.base_url},
        "files": [_file(f) for f in review.files],
        "findings": [_finding(f) for f in review.findings],
        "summary": review.summary,
        "requests": [
            {"files": list(r.files), "estimated_tokens": r.estimated_tokens,
             "messages": [{"role": m.role, "content": m.content} for m in r.messages]}
            for r in review.requests
        ],
        "failed_units": [{"files": list(u.files), "reason": u.reason, "cause": u.cause}
                         for u in review.failed_units],
        "stats": {
            "files": stats.files, "files_reviewed": stats.files_reviewed, "units": stats.units,
            "llm_calls": stats.llm_calls, "cached_units": stats.cached_units,
            "failed_units": stats.failed_units, "prompt_tokens": stats.prompt_tokens,
            "completion_tokens": stats.completion_tokens, "redactions": stats.redactions,
            "duration_s": round(stats.duration_s, 3),
        },
    }


def render_json(review: Review) -> str:
    """The report on one line (`jq .` pretty-prints it).

    orjson encodes a large dry run (19 MB of prompts) about six times faster than the json module.
    It refuses a lone surrogate, which a model's answer can carry as a `\\ud800` escape; then the
    json module writes the document in ASCII, where the surrogate stays an escape and nothing is lost.
    """
    document = report_dict(review)
    try:
        return orjson.dumps(document).decode("utf-8") + "\n"
    except orjson.JSONEncodeError:
        return json.dumps(document, separators=(",", ":")) + "\n"


def _file(file: FileDiff) -> dict[str, Any]:
    return {
        "path": file.path, "old_path": file.old_path, "status": file.status,
        "binary": file.binary, "skipped": file.skipped,
        "additions": file.additions, "deletions": file.deletions,
        "hunks": [{"old_start": h.old_start, "old_lines": h.old_lines,
                   "new_start": h.new_start, "new_lines": h.new_lines} for h in file.hunks],
        "added_lines": file.added_lines, "deleted_lines": file.deleted_lines,
    }


def _finding(finding: Finding) -> dict[str, Any]:
    return {
        "id": finding.fingerprint, "path": finding.path, "line": finding.line,
        "end_line": finding.end_line, "side": finding.side, "severity": finding.severity,
        "category": finding.category, "title": finding.title, "body": finding.body,
        "suggestion": finding.suggestion, "anchored": finding.anchored,
    }
