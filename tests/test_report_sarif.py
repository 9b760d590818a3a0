"""SARIF output: valid against the official 2.1.0 schema, with levels, regions and fingerprints."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import jsonschema
import pytest

from qwen_review import __version__
from qwen_review.report.sarif import render_sarif, rule_id
from qwen_review.review import Finding, Request, Stats
from tests.test_report_markdown import sample_review

DATA = Path(__file__).parent / "data"
SCHEMA = json.loads((DATA / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))


def validated(text: str) -> dict[str, Any]:
    log: dict[str, Any] = json.loads(text)
    validator_class = jsonschema.validators.validator_for(SCHEMA)
    validator_class.check_schema(SCHEMA)
    validator_class(SCHEMA).validate(log)
    return log


def results_by_fingerprint(log: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["partialFingerprints"]["qwenReview/v1"]: r for r in log["runs"][0]["results"]}


def test_sample_review_validates_with_one_run_and_the_tool_named() -> None:
    log = validated(render_sarif(sample_review()))

    assert log["version"] == "2.1.0"
    assert len(log["runs"]) == 1
    driver = log["runs"][0]["tool"]["driver"]
    assert driver["name"] == "qwen-review"
    assert driver["version"] == __version__
    assert driver["informationUri"].startswith("https://")
    assert [rule["id"] for rule in driver["rules"]] == ["bug", "compat", "docs", "security", "style"]
    assert len(log["runs"][0]["results"]) == 5  # every finding, anchored or not


def test_levels_follow_severity_and_rules_are_indexed() -> None:
    log = validated(render_sarif(sample_review()))
    results = results_by_fingerprint(log)
    rules = log["runs"][0]["tool"]["driver"]["rules"]

    assert {fp: r["level"] for fp, r in results.items()} == {
        "fp-secret": "error", "fp-status": "error", "fp-left": "warning", "fp-out": "note", "fp-doc": "note",
    }
    for result in results.values():
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["properties"]["category"] in result["ruleId"]
    assert results["fp-status"]["properties"]["severity"] == "high"
    assert results["fp-status"]["message"]["text"].startswith("Wrong status\ncode\n\nAsk @octocat")


def test_only_anchored_right_side_findings_have_a_region() -> None:
    results = results_by_fingerprint(validated(render_sarif(sample_review())))

    status = results["fp-status"]["locations"][0]["physicalLocation"]
    assert status["artifactLocation"] == {"uri": "src/app.py", "uriBaseId": "%SRCROOT%"}
    assert status["region"] == {"startLine": 11, "endLine": 13}
    doc = results["fp-doc"]["locations"][0]["physicalLocation"]
    assert doc["artifactLocation"]["uri"] == "docs/a%20b.md"
    assert doc["region"] == {"startLine": 2, "endLine": 2}

    left = results["fp-left"]
    assert "region" not in left["locations"][0]["physicalLocation"]
    assert left["properties"]["side"] == "LEFT" and left["properties"]["line"] == 11
    unpinned = results["fp-out"]
    assert "region" not in unpinned["locations"][0]["physicalLocation"]
    assert unpinned["properties"]["anchored"] is False
    secret = results["fp-secret"]
    assert secret["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "config.py"
    assert secret["properties"]["local"] is True


def test_suggestion_on_an_anchored_line_becomes_a_fix() -> None:
    results = results_by_fingerprint(validated(render_sarif(sample_review())))

    (fix,) = results["fp-status"]["fixes"]
    (replacement,) = fix["artifactChanges"][0]["replacements"]
    assert replacement["deletedRegion"] == {"startLine": 11, "endLine": 13}
    assert replacement["insertedContent"]["text"].startswith("    data = request.get_json(silent=True)")
    assert "fixes" not in results["fp-left"]


def test_failed_units_and_skipped_files_are_notifications() -> None:
    log = validated(render_sarif(sample_review()))
    (invocation,) = log["runs"][0]["invocations"]

    assert invocation["executionSuccessful"] is False
    texts = [n["message"]["text"] for n in invocation["toolExecutionNotifications"]]
    assert "not reviewed (invalid answer twice: missing 'findings'): lib/x.py" in texts
    assert "skipped (binary): assets/logo.png" in texts
    assert log["runs"][0]["properties"]["target"] == {"kind": "range", "spec": "A..B", "base": "a" * 40, "head": "b" * 40}


@pytest.mark.parametrize("path", ["dir/ä ö.py", "weird #name?.py", "a%b.py"])
def test_paths_become_uri_references(path: str) -> None:
    finding = Finding(path=path, line=1, end_line=None, side="RIGHT", severity="low", category="Bug Risk",
                      title="t", body="b", anchored=True, fingerprint="fp")
    log = validated(render_sarif(sample_review(findings=[finding])))
    uri = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]

    assert all(33 <= ord(c) < 127 for c in uri) and "#" not in uri and "?" not in uri
    assert unquote(uri) == path
    assert log["runs"][0]["results"][0]["ruleId"] == "bug-risk"


def test_dry_run_and_empty_reviews_are_valid_logs() -> None:
    dry = sample_review(dry_run=True, findings=[], failed_units=[],
                        requests=[Request(files=("src/app.py",), estimated_tokens=10, messages=())])
    log = validated(render_sarif(dry))
    assert log["runs"][0]["results"] == []
    assert log["runs"][0]["properties"]["dryRun"] is True
    assert log["runs"][0]["invocations"][0]["executionSuccessful"] is True

    empty = validated(render_sarif(sample_review(files=[], findings=[], failed_units=[], stats=Stats())))
    assert empty["runs"][0]["tool"]["driver"]["rules"] == []


def test_a_broken_log_fails_the_schema() -> None:
    """The schema check is real: a result with an unknown level is rejected."""
    log = json.loads(render_sarif(sample_review()))
    log["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        validated(json.dumps(log))


def test_the_schema_file_is_the_one_its_readme_describes() -> None:
    digest = hashlib.sha256((DATA / "sarif-schema-2.1.0.json").read_bytes()).hexdigest()
    assert digest in (DATA / "README.md").read_text(encoding="utf-8")
    assert SCHEMA["id"].endswith("/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json")


def test_rule_ids_are_stable_slugs() -> None:
    assert rule_id("Security / Injection") == "security-injection"
    assert rule_id("  ") == "general"
