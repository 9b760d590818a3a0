"""action.yml and every workflow validate against SchemaStore's schemas (vendored: tests/data/github-schemas)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = Path(__file__).resolve().parent / "data" / "github-schemas"
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))


class _Yaml12Loader(yaml.SafeLoader):
    """YAML as GitHub reads it: `on:` is a key, not the boolean YAML 1.1 makes of it."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                    list("tTfF"))


def load(path: Path) -> Any:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_Yaml12Loader)  # a SafeLoader subclass: no arbitrary objects


def validator(name: str) -> jsonschema.Draft7Validator:
    schema = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def problems(document: Any, schema: str) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator(schema).iter_errors(document)]


def test_action_yml_is_a_valid_action() -> None:
    assert problems(load(ROOT / "action.yml"), "github-actions.json") == []


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.name for p in WORKFLOWS])
def test_each_workflow_is_valid(path: Path) -> None:
    assert problems(load(path), "github-workflows.json") == []


def test_the_example_workflow_exists_and_uses_the_local_action() -> None:
    workflow = load(ROOT / ".github" / "workflows" / "qwen-review.yml")
    steps = workflow["jobs"]["review"]["steps"]
    assert steps[-1]["uses"] == "./" and steps[0]["uses"].startswith("actions/checkout@")
    # `uses: ./` runs the checkout's action with the secrets: it must be the base, never the PR's code
    assert steps[0]["with"]["ref"] == "${{ github.event.pull_request.base.sha }}"
    assert workflow["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert workflow["on"]["pull_request"]["types"] == ["opened", "synchronize", "reopened", "ready_for_review"]
    assert workflow["concurrency"]["cancel-in-progress"] is True


def test_a_broken_action_is_rejected() -> None:
    """The check has teeth: each of these mistakes fails validation."""
    action = load(ROOT / "action.yml")
    wrong_runner = copy.deepcopy(action)
    wrong_runner["runs"]["using"] = "composit"
    no_shell = copy.deepcopy(action)
    del no_shell["runs"]["steps"][1]["shell"]
    unknown_key = copy.deepcopy(action)
    unknown_key["inputs"]["api-key"]["secret"] = True
    no_description = copy.deepcopy(action)
    del no_description["description"]
    for broken in (wrong_runner, no_shell, unknown_key, no_description):
        assert problems(broken, "github-actions.json"), broken
