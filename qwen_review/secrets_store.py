"""Store a value into a GitHub Actions repository secret (PyGithub seals it with the repository's public key)."""

from __future__ import annotations

from qwen_review.errors import PublishError

DEFAULT_API_URL = "https://api.github.com"


def store_repository_secret(
    *, name: str, value: str, token: str, repository: str, api_url: str | None = None, timeout: int = 15
) -> None:
    """Create or update the Actions secret `name` of `repository` ("owner/repo"); PublishError on failure."""
    # Imported here: only a run whose refresh token rotated in CI needs PyGithub.
    from github import Auth, Github, GithubException
    from urllib3.util.retry import Retry

    # PUT of a secret is idempotent, so retrying a 5xx or a reset cannot duplicate anything.
    retry = Retry(total=2, backoff_factor=0.5, status_forcelist=(500, 502, 503, 504), allowed_methods=None)
    client = Github(
        auth=Auth.Token(token),
        base_url=(api_url or DEFAULT_API_URL).rstrip("/"),
        timeout=timeout,
        retry=retry,
        lazy=True,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )
    try:
        client.get_repo(repository).create_secret(name, value, secret_type="actions")
    except GithubException as exc:
        detail = exc.data.get("message") if isinstance(exc.data, dict) else None
        raise PublishError(
            f"GitHub refused to store secret {name} in {repository} ({exc.status}: {detail or 'no details'})",
            hint="QWEN_REVIEW_SECRETS_TOKEN needs the 'Secrets: write' permission on the repository",
        ) from exc
    except Exception as exc:  # requests/urllib3 transport errors have no common base worth naming
        raise PublishError(f"could not reach GitHub to store secret {name}: {type(exc).__name__}") from exc
    finally:
        client.close()
