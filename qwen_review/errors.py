"""One base exception; each subclass carries the exit code the CLI returns for it."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_PROVIDER = 3
EXIT_INTERRUPTED = 130


class QwenReviewError(Exception):
    """An expected failure: printed as one line, mapped to `exit_code`."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(QwenReviewError):
    """Bad arguments or input: exit 2."""


class ConfigError(QwenReviewError):
    """A bad configuration file, key or value: exit 2."""


class GitError(QwenReviewError):
    """Not a repository, unknown revision, no merge base: exit 2."""


class CredentialsError(QwenReviewError):
    """No provider configured, or the login must be renewed: exit 2."""


class ProviderError(QwenReviewError):
    """The model endpoint failed after retries: exit 3."""

    exit_code = EXIT_PROVIDER


class PublishError(QwenReviewError):
    """Publishing to GitHub failed after retries: exit 3."""

    exit_code = EXIT_PROVIDER
