"""Secrets in the diff never leave the machine: replaced by placeholders, each reported as a local finding.

Every secret here is generated at run time from split prefixes, so this file holds no credential
(nor anything a secret scanner would take for one).
"""

from __future__ import annotations

import base64
import json
import random
import string

import pytest

from qwen_review.diff import FileDiff, Hunk
from qwen_review.redact import redact_files

RNG = random.Random(20240601)
ALNUM = string.ascii_letters + string.digits


def rand(alphabet: str, size: int) -> str:
    while True:  # at least two digits, as real keys have (and as the checks for some kinds want)
        value = "".join(RNG.choice(alphabet) for _ in range(size))
        if sum(c.isdigit() for c in value) >= 2 or not any(c.isdigit() for c in alphabet):
            return value


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def make_jwt() -> str:
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64url(json.dumps({"sub": rand(ALNUM, 12), "iat": 1716000000}).encode())
    return f"{header}.{payload}.{b64url(RNG.randbytes(32))}"


# kind -> (secret, the line that holds it)
def planted() -> dict[str, tuple[str, str]]:
    aws = "AK" + "IA" + rand(string.ascii_uppercase + string.digits, 16)
    github = "gh" + "p_" + rand(ALNUM, 36)
    github_pat = "github" + "_pat_" + rand(ALNUM, 22) + "_" + rand(ALNUM, 59)
    openai = "sk" + "-proj-" + rand(ALNUM + "-_", 64)
    anthropic = "sk" + "-ant-api03-" + rand(ALNUM + "-_", 90)
    dashscope = "sk" + "-" + rand("0123456789abcdef", 32)
    google = "AI" + "za" + rand(ALNUM + "-_", 35)
    slack = "xo" + "xb-" + rand(string.digits, 12) + "-" + rand(string.digits, 13) + "-" + rand(ALNUM, 24)
    stripe = "sk" + "_live_" + rand(ALNUM, 24)
    gitlab = "gl" + "pat-" + rand(ALNUM, 20)
    url_password = rand(ALNUM, 14)
    bearer = rand(ALNUM, 40)
    db_password = rand(ALNUM + "!#%&*", 16)
    env_token = rand(ALNUM, 32)
    yaml_key = rand(string.hexdigits.lower()[:16], 40)
    jwt = make_jwt()
    return {
        "aws_access_key": (aws, f'AWS_ACCESS_KEY_ID = "{aws}"'),
        "github_token": (github, f"    headers = {{'Authorization': 'token {github}'}}"),
        "github_pat": (github_pat, f"GH={github_pat}"),
        "openai_key": (openai, f"client = OpenAI(api_key='{openai}')"),
        "anthropic_key": (anthropic, f"ANTHROPIC = '{anthropic}'"),
        "dashscope_key": (dashscope, f"dashscope.api_key = {dashscope}"),
        "google_api_key": (google, f"url = 'https://maps.example.invalid/api?key={google}&q=1'"),
        "slack_token": (slack, f'  slack: "{slack}"'),
        "stripe_key": (stripe, f"stripe.api_key = '{stripe}'"),
        "gitlab_token": (gitlab, f"export CI_TOKEN={gitlab}"),
        "url_password": (url_password, f'DATABASE_URL = "postgres://admin:{url_password}@db.internal:5432/app"'),
        "bearer_token": (bearer, f'curl -H "Authorization: Bearer {bearer}" https://api.example.invalid'),
        "high_entropy_secret": (db_password, f'    db_password = "{db_password}"'),
        "env_secret": (env_token, f"SECRET_TOKEN={env_token}"),
        "yaml_key": (yaml_key, f"  api_key: {yaml_key}"),
        "jwt": (jwt, f"const session = '{jwt}';"),
    }


EXPECTED_KIND = {"github_pat": "github_token", "env_secret": "high_entropy_secret", "yaml_key": "high_entropy_secret"}


def fragments(secret: str) -> set[str]:
    """Every 8-character piece of the secret: none may survive, not even partially."""
    return {secret[i:i + 8] for i in range(len(secret) - 7)}


def everything_out(files: list[FileDiff], findings: list) -> str:  # type: ignore[type-arg]
    parts = [h.section for f in files for h in f.hunks] + [line for f in files for h in f.hunks for line in h.body]
    parts += [f"{x.title}\n{x.body}\n{x.quote}" for x in findings]
    return "\n".join(parts)


def one_file(*body: str, old_start: int = 1, new_start: int = 1, section: str = "", path: str = "app.py") -> FileDiff:
    old = sum(1 for line in body if line[:1] in "- ")
    new = sum(1 for line in body if line[:1] in "+ ")
    return FileDiff(path=path, old_path=path, status="modified",
                    hunks=[Hunk(old_start, old, new_start, new, section, tuple(body))])


def test_planted_secrets_are_replaced_and_reported_one_finding_each() -> None:
    secrets = planted()
    body = [" import os"] + ["+" + line for _, line in secrets.values()] + [" print('done')"]
    result = redact_files([one_file(*body, new_start=10)])
    out = everything_out(result.files, result.findings)
    for name, (secret, _) in secrets.items():
        assert not fragments(secret) & {out[i:i + 8] for i in range(len(out) - 7)}, name
    redacted = result.files[0].hunks[0].body
    assert redacted[0] == " import os" and redacted[-1] == " print('done')"
    for index, name in enumerate(secrets, start=1):
        kind = EXPECTED_KIND.get(name, name)
        assert f"[REDACTED:{kind}]" in redacted[index], (name, redacted[index])
    assert result.count == len(result.findings) == len(secrets)
    for index, (name, finding) in enumerate(zip(secrets, result.findings, strict=True), start=1):
        kind = EXPECTED_KIND.get(name, name)
        assert (finding.path, finding.line, finding.side) == ("app.py", 10 + index, "RIGHT")
        assert (finding.severity, finding.category, finding.local, finding.anchored) == ("high", "security", True, False)
        assert finding.title == f"Possible secret in diff: {kind}"
        assert finding.quote == redacted[index][1:]


def test_what_stays_around_a_secret_is_untouched() -> None:
    secret = "gh" + "p_" + rand(ALNUM, 36)
    result = redact_files([one_file(f"+    call(token='{secret}', retries=3)  # why")])
    assert result.files[0].hunks[0].body == ("+    call(token='[REDACTED:github_token]', retries=3)  # why",)


def test_line_numbers_and_sides_for_added_deleted_and_context_lines() -> None:
    keys = ["AK" + "IA" + rand(string.ascii_uppercase + string.digits, 16) for _ in range(3)]
    body = (" a = 1", f"-OLD = '{keys[0]}'", " b = 2", f"+NEW = '{keys[1]}'", f" CTX = '{keys[2]}'", "-gone")
    result = redact_files([one_file(*body, old_start=40, new_start=52)])
    assert [(f.line, f.side) for f in result.findings] == [(41, "LEFT"), (54, "RIGHT"), (55, "RIGHT")]
    assert [f.quote for f in result.findings] == [
        "OLD = '[REDACTED:aws_access_key]'", "NEW = '[REDACTED:aws_access_key]'", "CTX = '[REDACTED:aws_access_key]'",
    ]


def test_line_numbers_past_no_newline_markers_and_in_a_second_hunk() -> None:
    keys = ["AK" + "IA" + rand(string.ascii_uppercase + string.digits, 16) for _ in range(3)]
    first = Hunk(7, 2, 7, 2, "", (" x = 1", f"-A = '{keys[0]}'", "\\ No newline at end of file",
                                  f"+A = '{keys[1]}'", "\\ No newline at end of file"))
    second = Hunk(30, 1, 30, 2, "", (" y = 2", f"+B = '{keys[2]}'"))
    file = FileDiff(path="m.py", old_path="m.py", status="modified", hunks=[first, second])
    result = redact_files([file])
    assert [(f.line, f.side) for f in result.findings] == [(8, "LEFT"), (8, "RIGHT"), (31, "RIGHT")]
    assert "rotate" in result.findings[0].body and "rotate" not in result.findings[1].body


def private_key_lines() -> list[str]:
    body = base64.b64encode(RNG.randbytes(48 * 6)).decode()
    return [body[i:i + 64] for i in range(0, len(body), 64)]


def test_a_multi_line_private_key_is_redacted_on_every_line_with_one_finding() -> None:
    inner = private_key_lines()
    body = (" def load():", '+    KEY = """-----BEGIN RSA PRIVATE KEY-----', *["+" + line for line in inner],
            '+-----END RSA PRIVATE KEY-----"""', "+    return KEY")
    result = redact_files([one_file(*body, new_start=7)])
    lines = result.files[0].hunks[0].body
    assert lines[0] == " def load():" and lines[-1] == "+    return KEY"
    assert lines[1] == '+    KEY = """[REDACTED:private_key]'
    assert lines[2:-2] == ("+[REDACTED:private_key]",) * len(inner)
    assert lines[-2] == '+[REDACTED:private_key]"""'
    (finding,) = result.findings
    assert (finding.line, finding.side, finding.title) == (8, "RIGHT", "Possible secret in diff: private_key")
    out = everything_out(result.files, result.findings)
    assert not any(line[:16] in out for line in inner)


def test_a_deleted_private_key_is_reported_on_the_old_side() -> None:
    inner = private_key_lines()
    body = (" x = 1", "------BEGIN OPENSSH PRIVATE KEY-----", *["-" + line for line in inner],
            "------END OPENSSH PRIVATE KEY-----", " y = 2")
    result = redact_files([one_file(*body, old_start=3)])
    lines = result.files[0].hunks[0].body
    assert lines[1:-1] == ("-[REDACTED:private_key]",) * (len(inner) + 2)
    assert [(f.line, f.side) for f in result.findings] == [(4, "LEFT")]


def test_a_key_block_cut_by_the_hunk_edges_is_redacted_inside_the_hunk() -> None:
    inner = private_key_lines()
    tail = one_file(*[" " + line for line in inner[3:]], " -----END PRIVATE KEY-----", "+after = 1", path="tail.pem")
    head = one_file("+before = 1", "+-----BEGIN EC PRIVATE KEY-----", *["+" + line for line in inner[:3]],
                    path="head.pem")
    result = redact_files([head, tail])
    head_lines, tail_lines = result.files[0].hunks[0].body, result.files[1].hunks[0].body
    assert head_lines[0] == "+before = 1"
    assert head_lines[1:] == ("+[REDACTED:private_key]",) * 4
    assert tail_lines[:-1] == (" [REDACTED:private_key]",) * (len(inner) - 3 + 1)
    assert tail_lines[-1] == "+after = 1"
    assert [(f.path, f.line) for f in result.findings] == [("head.pem", 2), ("tail.pem", 1)]


def test_a_secret_in_a_hunk_header_is_redacted_and_reported_once() -> None:
    key = "AI" + "za" + rand(ALNUM + "-_", 35)
    file = one_file(" x = 1", "+y = 2", section=f"def connect(key='{key}'):")
    result = redact_files([file])
    assert result.files[0].hunks[0].section == "def connect(key='[REDACTED:google_api_key]'):"
    (finding,) = result.findings
    assert finding.line is None and finding.quote is None and "hunk header" in finding.body
    # The same line also inside a hunk of that file: one finding, on the line.
    twice = one_file(" x = 1", f" def connect(key='{key}'):", section=f"def connect(key='{key}'):")
    assert [(f.line, f.quote) for f in redact_files([twice]).findings] == [
        (2, "def connect(key='[REDACTED:google_api_key]'):"),
    ]


def test_two_secrets_on_one_line_are_two_findings() -> None:
    first, second = ("AK" + "IA" + rand(string.ascii_uppercase + string.digits, 16) for _ in range(2))
    result = redact_files([one_file(f"+KEYS = ['{first}', '{second}']")])
    assert result.files[0].hunks[0].body == ("+KEYS = ['[REDACTED:aws_access_key]', '[REDACTED:aws_access_key]']",)
    assert result.count == 2


ORDINARY = (
    "password = get_password()",
    'token = os.environ["TOKEN"]',
    "api_key = settings.API_KEY",
    "if token == expected_token:",
    "tokens = tokenize(text)",
    "max_tokens: 4096",
    "password: str = Field(..., min_length=12)",
    'secret_name = "prod-db"',
    'password = "********"',
    'api_key = "<your-api-key>"',
    'API_KEY = "your-api-key-here"',
    "API_KEY=${API_KEY}",
    "token: ${{ secrets.GITHUB_TOKEN }}",
    'headers = {"Authorization": f"Bearer {token}"}',
    "aws_key = 'AK" "IAIOSFODNN7EXAMPLE'",  # AWS's documentation example
    "model = 'sk-learn-classification-model'",
    "# fixed in 3f786850e387550fdab836ed7e6dc881de23001b, see 123e4567-e89b-12d3-a456-426614174000",
    "ids = ['123e4567-e89b-12d3-a456-426614174000']",
    "ICON = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk'",
    "const SECRET_HEADER = 'X-Secret-Token';",
    "def secret_key(self) -> bytes:",
    "password_hash = '$2b$12$KIXQJ1m1sTz0x9l7uYl9e.9c3iS2ZmY8zH8F6p2Ue6kG0b6l6m1Oa'",
    "session_token = next_token",
    "    for token in tokens: yield token",
    "tokenizer_name = 'bert-base-uncased-v2'",
    "TOKEN_URL = 'https://auth.example.invalid/oauth/token'",
    "DATABASE_URL = 'postgres://user:${DB_PASSWORD}@localhost/app'",
    "jwt = 'eyJhbGciOi.eyJzdWIiOi.not-a-token'",
    "x = a - b  # -----",
)


def test_ordinary_code_is_left_alone() -> None:
    file = one_file(*["+" + line for line in ORDINARY], *["-" + line for line in ORDINARY])
    result = redact_files([file])
    assert [f.quote for f in result.findings] == []
    assert result.files[0] is file


def test_a_uuid_or_a_sha_given_to_a_secret_name_is_redacted() -> None:
    # Decided: a value assigned to a secret-looking name is a secret, whatever it looks like.
    result = redact_files([one_file("+api_key = '123e4567-e89b-12d3-a456-426614174000'",
                                    "+password = 'da39a3ee5e6b4b0d3255bfef95601890afd80709'")])
    assert [f.title for f in result.findings] == ["Possible secret in diff: high_entropy_secret"] * 2


def test_a_name_given_a_known_key_format_reports_that_format() -> None:
    openai = "sk" + "-proj-" + rand(ALNUM, 48)
    result = redact_files([one_file(f'+OPENAI_API_KEY = "{openai}"')])
    assert result.files[0].hunks[0].body == ('+OPENAI_API_KEY = "[REDACTED:openai_key]"',)
    assert [f.title for f in result.findings] == ["Possible secret in diff: openai_key"]


def test_every_file_with_hunks_is_scanned_deleted_ones_included() -> None:
    # A deleted file is not sent, but its lines appear in reports; and a secret it removes was committed.
    key = "AK" + "IA" + rand(string.ascii_uppercase + string.digits, 16)
    sent = one_file(f"+K = '{key}'", path="b.py")
    deleted = one_file("-import os", f"-K = '{key}'", path="old.py")
    deleted.status, deleted.skipped = "deleted", "deleted"
    binary = FileDiff(path="img.png", old_path="img.png", status="modified", binary=True, skipped="binary")
    clean = one_file("+x = 1", path="c.py")
    result = redact_files([sent, deleted, binary, clean])
    assert result.files[2] is binary and result.files[3] is clean
    assert result.files[1].skipped == "deleted" and result.files[1].status == "deleted"
    assert result.files[1].hunks[0].body == ("-import os", "-K = '[REDACTED:aws_access_key]'")
    assert deleted.hunks[0].body[1] == f"-K = '{key}'"  # the input is not modified
    assert [(f.path, f.line, f.side) for f in result.findings] == [("b.py", 1, "RIGHT"), ("old.py", 2, "LEFT")]
    removed = result.findings[1]
    assert removed.quote == "K = '[REDACTED:aws_access_key]'"
    assert "history" in removed.body and "rotate" in removed.body
    assert "rotate" not in result.findings[0].body


def test_unicode_text_around_secrets() -> None:
    key = "gh" + "p_" + rand(ALNUM, 36)
    result = redact_files([one_file(f"+İstanbul = 'ü'; Token = '{key}'  # 密钥")])
    assert result.files[0].hunks[0].body == ("+İstanbul = 'ü'; Token = '[REDACTED:github_token]'  # 密钥",)


def test_crafted_names_do_not_make_the_scan_backtrack() -> None:
    # With an ambiguous name grammar these lines would take longer than the age of the universe.
    lines = ["+secret" + "base64" * 60 + "x = 1", "+password" + "_1" * 300 + "!", "+token" + "=" * 5000]
    assert redact_files([one_file(*lines)]).findings == []


def test_an_empty_diff() -> None:
    result = redact_files([])
    assert (result.files, result.findings, result.count) == ([], [], 0)


@pytest.mark.parametrize("plugin_name", [
    "aws.AWSKeyDetector", "github_token.GitHubTokenDetector", "slack.SlackDetector", "stripe.StripeDetector",
    "jwt.JwtTokenDetector", "private_key.PrivateKeyDetector", "gitlab_token.GitLabTokenDetector",
    "basic_auth.BasicAuthDetector",
])
def test_whatever_detect_secrets_finds_in_the_planted_lines_is_gone(plugin_name: str) -> None:
    import importlib

    module, name = plugin_name.split(".")
    plugin = getattr(importlib.import_module(f"detect_secrets.plugins.{module}"), name)()
    lines = [line for _, line in planted().values()] + ["-----BEGIN RSA PRIVATE KEY-----"]
    result = redact_files([one_file(*["+" + line for line in lines])])
    out = "\n".join(result.files[0].hunks[0].body)
    found = [s.secret_value for line in lines for s in plugin.analyze_line(filename="x.py", line=line, line_number=1)]
    assert found, "the plugin should find something among the planted lines"
    for secret in found:
        assert secret not in out
