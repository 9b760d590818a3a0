"""The secrets redaction looks for: each kind's pattern and name, and one compiled expression that finds them all.

`SCAN_RE` is that expression. Every alternative of it starts with an "anchor", a character
chosen to be rare in code (`_`, `-`, `k`, uppercase letters...), and checks the rest of a key's
prefix behind it with a fixed-width lookbehind, so `re` skips from anchor to anchor, in C, and
tries a match only there. `CANDIDATES` holds, per anchor character, the full patterns that say
which kind a hit is and where it really starts.

Patterns follow detect-secrets' plugins (aws, github_token, gitlab_token, slack, stripe, openai,
jwt, private_key, npm, pypi_token, sendgrid, twilio, square_oauth, azure_storage_key,
basic_auth, keyword) plus current formats (sk-proj-, sk-ant-, DashScope sk-<hex>, github_pat_,
hf_). A secret-looking name (password, secret, token, *_key, credentials) given a value matches
as kind `KEYWORD`, its value in one of the groups `VALUE_GROUPS`.
"""

from __future__ import annotations

import re

_BLOCK_END = r"(?:[^\n]|\n(?!@))*?(?:{end}|(?=\n@)|\Z)"  # up to the end marker, else the end of the hunk
_KEY_REST = r"[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)? ?-----?"
_KEY_BLOCK = "EGIN" + _KEY_REST + _BLOCK_END.format(end=r"-----? ?END" + _KEY_REST)
_CODE = r"[A-Za-z0-9_-]"
# (kind, prefix, its width, anchor, rest, needs a word boundary before it). The scan looks for the
# anchor, a character rare in code, checks the fixed-width prefix behind it, then the rest; so `re`
# tries a match only where an anchor character stands. Earlier entries win a tie.
_TOKENS: tuple[tuple[str, str, int, str, str, bool], ...] = (
    ("private_key", "", 0, "-", "----? ?B" + _KEY_BLOCK, False),
    ("private_key_tail", "", 0, "-", "----? ?END" + _KEY_REST, False),  # an END whose BEGIN precedes the hunk
    ("private_key", "", 0, "P", r"uTTY-User-Key-File-\d+:" + _BLOCK_END.format(end=r"Private-MAC: [0-9a-fA-F]+"), False),
    ("aws_access_key", "", 0, "A", r"(?:KIA|SIA|BIA|CCA|3T[A-Z0-9])[A-Z0-9]{16}(?![A-Za-z0-9])", True),
    ("google_api_key", "", 0, "A", r"Iza[0-9A-Za-z_-]{35}", False),
    ("azure_storage_key", "", 0, "A", r"ccountKey=[A-Za-z0-9+/]{86}==", False),
    ("twilio_key", "", 0, "A", r"C[0-9a-f]{32}(?![A-Za-z0-9])", True),
    ("twilio_key", "", 0, "S", r"K[0-9a-f]{32}(?![A-Za-z0-9])", True),
    ("sendgrid_key", "", 0, "S", r"G\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}", False),
    ("gitlab_token", "", 0, "G", r"R1348941[A-Za-z0-9_-]{20,}", False),
    ("pypi_token", "pypi-", 5, "A", r"gE[A-Za-z0-9_-]{50,}", False),
    ("jwt", "ey", 2, "J", r"[A-Za-z0-9_-]{10,}={0,2}\.[A-Za-z0-9_-]{10,}={0,2}\.[A-Za-z0-9_+/=-]*", False),
    ("bearer_token", "", 0, "B", r"earer[ \t]+[A-Za-z0-9._~+/=-]{16,}", False),
    ("github_token", "gh[pousr]", 3, "_", r"[A-Za-z0-9_]{36,251}", False),
    ("github_token", "github_pat", 10, "_", r"[A-Za-z0-9_]{22,255}", False),
    ("npm_token", "npm", 3, "_", r"[A-Za-z0-9]{36}", True),
    ("huggingface_token", "hf", 2, "_", r"[A-Za-z]{34}(?![A-Za-z])", True),
    ("stripe_key", "whsec", 5, "_", r"[A-Za-z0-9+/=]{24,}", False),
    ("anthropic_key", "s", 1, "k", r"-ant-" + _CODE + "{20,}", True),
    ("openai_key", "s", 1, "k", "-" + _CODE + "{20,}", True),  # also DashScope's sk-<32 hex>: DASHSCOPE
    ("stripe_key", "[sr]", 1, "k", r"_(?:live|test)_[0-9A-Za-z]{16,}", True),
    ("slack_webhook", "https://hoo", 11, "k", r"s\.slack\.com/services/T\w+/B\w+/\w+", False),
    ("gitlab_token", "gl(?:dt|ft|rt)", 4, "-", _CODE + "{20,}", False),
    ("gitlab_token", "gl(?:pat|rtr|cbt|ptt|oas|imt)", 5, "-", _CODE + "{20,}", False),
    ("gitlab_token", "gl(?:soat|ffct)", 6, "-", _CODE + "{20,}", False),
    ("gitlab_token", "glagent", 7, "-", _CODE + "{20,}", False),
    ("slack_token", "", 0, "x", r"ox[abposre]-[0-9A-Za-z-]{10,}", False),
    ("square_token", "s", 1, "q", r"0(?:csp|atp)-[0-9A-Za-z_-]{22,43}", False),
    ("url_password", "", 0, ":", r"//[^\s/?#@:'\"`<>{}\[\]\\]{1,100}:[^\s/?#@'\"`<>{}\[\]\\]{3,200}@", False),
)


# Secret-looking names given a value, anchored like the tokens on a rarer letter (the lookbehind
# checks the rest of the name); matched case-insensitively.
_KEY_OWNERS = ("api", "access", "auth", "private", "signing", "encryption", "master", "client")
_NAMES = {
    "w": r"(?:(?<=passw)(?:or)?d|(?<=pw)d)",
    "c": r"(?:(?<=sec)ret|redentials?)",
    "k": r"(?:(?<=tok)en|(?:" + "|".join(f"(?<={o}{s}k)" for o in _KEY_OWNERS for s in ("_", "-", "")) + ")ey)",
}
# No word here may be a concatenation of others (base64 = base + 6 + 4): each name must parse one
# way only, or a long crafted name would make the regex backtrack exponentially.
_SUFFIX = r"(?:[_.-]?(?:key|token|secret|value|str|string|b64|hex|raw|plain|base|hash|salt|\d))*"
_ASSIGN = (r"[\"'`]?\]?[ \t]*(?::[ \t]*[a-z_][\w.\[\], |]{0,40}?[ \t]*=|:=|=>|===?|!==?|[?+]?=|:)[ \t]*"
           r"(?:[@bruf]{1,2}(?=[\"'`]))?")
_VALUE = r"\"(?P<dq>[^\"\s]{1,500})\"|'(?P<sq>[^'\s]{1,500})'|`(?P<bq>[^`\s]{1,500})`|(?P<bare>[^\s\"'`,;)\]}>]{1,500})"
VALUE_GROUPS = ("dq", "sq", "bq", "bare")
_KEYWORD_REST = _SUFFIX + r"(?![a-z0-9_])" + _ASSIGN
KEYWORD = "keyword"


def _scan_pattern() -> str:
    """One expression for every token and name; each alternative starts with a literal anchor character."""
    groups: dict[str, list[str]] = {}
    for _, prefix, _, anchor, rest, boundary in _TOKENS:
        behind = f"(?<={prefix}{re.escape(anchor)})" if prefix else ""
        if boundary:
            behind += rf"(?<![\w-]{prefix}{re.escape(anchor)})"
        groups.setdefault(anchor, []).append(behind + rest)
    value = re.sub(r"\(\?P<\w+>", "(?:", _VALUE)
    for letter, name in _NAMES.items():
        for anchor in (letter, letter.upper()):
            groups.setdefault(anchor, []).append(f"(?i:{name}{_KEYWORD_REST}(?:{value}))")
    # All alternatives start with a literal, so `re` skips to the next anchor character in C.
    return "|".join(f"{re.escape(anchor)}(?:{'|'.join(alternatives)})" for anchor, alternatives in groups.items())


def _candidates() -> dict[str, tuple[tuple[str, int, re.Pattern[str]], ...]]:
    """Per anchor character, the full patterns (kind, prefix width, pattern) in the scan's order."""
    table: dict[str, list[tuple[str, int, re.Pattern[str]]]] = {}
    for kind, prefix, width, anchor, rest, boundary in _TOKENS:
        pattern = (r"(?<![\w-])" if boundary else "") + prefix + re.escape(anchor) + rest
        table.setdefault(anchor, []).append((kind, width, re.compile(pattern)))
    for letter, name in _NAMES.items():
        keyword = re.compile(f"{letter}{name}{_KEYWORD_REST}(?:{_VALUE})", re.IGNORECASE)
        for anchor in (letter, letter.upper()):
            table.setdefault(anchor, []).append((KEYWORD, 0, keyword))
    return {anchor: tuple(entries) for anchor, entries in table.items()}


SCAN_RE = re.compile(_scan_pattern())
CANDIDATES = _candidates()
DASHSCOPE = re.compile(r"sk-[0-9a-f]{32}")

# How a finding names each kind; any other kind is named after itself.
DESCRIPTIONS = {
    "private_key": "a private key", "aws_access_key": "an AWS access key ID", "google_api_key": "a Google API key",
    "openai_key": "an OpenAI API key", "anthropic_key": "an Anthropic API key", "dashscope_key": "a DashScope API key",
    "github_token": "a GitHub token", "gitlab_token": "a GitLab token", "slack_token": "a Slack token",
    "slack_webhook": "a Slack webhook URL", "stripe_key": "a Stripe secret key", "jwt": "a JSON Web Token",
    "bearer_token": "a bearer token", "url_password": "a password inside a URL",
    "high_entropy_secret": "a hard-coded secret assigned to a secret-looking name",
}
