"""scrub: the one way a token or key is blanked out of a message before anyone sees it."""

from __future__ import annotations

from qwen_review.github_client import connect
from qwen_review.pr_event import runner_env
from qwen_review.providers.oauth_http import server_message
from qwen_review.scrub import REDACTED, scrub


def test_every_secret_is_replaced_longest_first() -> None:
    text = "token ghs_abc123XYZ, refresh ghs_abc123XYZ-rotated, again ghs_abc123XYZ"
    scrubbed = scrub(text, ["ghs_abc123XYZ", "ghs_abc123XYZ-rotated"])
    assert scrubbed == f"token {REDACTED}, refresh {REDACTED}, again {REDACTED}"
    assert "rotated" not in scrubbed  # the longer secret went first: no tail of it is left


def test_empty_and_very_short_values_are_not_secrets_to_replace() -> None:
    assert scrub("a message about abc", ["", "abc", None]) == "a message about abc"


def test_the_github_client_the_oauth_messages_and_the_pr_run_all_scrub_alike() -> None:
    token = "ghs_FAKE_scrub_token_1234"
    with connect(token=token, api_url="http://127.0.0.1:9/api/v3") as client:
        assert client.scrub(f"401 for {token}") == f"401 for {REDACTED}"
    assert server_message({"error": f"bad token {token}"}, secrets=[token]) == f"bad token {REDACTED}"
    runner = runner_env({"GITHUB_TOKEN": token})
    assert runner.scrub(f"fatal: https://x-access-token:{token}@host") == f"fatal: https://x-access-token:{REDACTED}@host"
