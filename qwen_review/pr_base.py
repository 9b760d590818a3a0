"""Config and templates of a pull request, read from its base commit's git objects.

The work tree holds the pull request's own files, so a PR could otherwise point the model
endpoint elsewhere, rewrite the prompts or plant a `.env`. Only the base commit, which the
repository's maintainers merged, is trusted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from qwen_review import output
from qwen_review.config import config_file_name, parse_config_text, read_config_file
from qwen_review.errors import ConfigError
from qwen_review.prompts import REPO_TEMPLATES_DIR

if TYPE_CHECKING:
    import jinja2
    import pygit2


@dataclass(frozen=True)
class BaseConfig:
    values: dict[str, Any]
    source: str  # shown in configuration errors


def blob_text(repo: pygit2.Repository, commit: str, path: str) -> str | None:
    """The UTF-8 text of `path` in `commit`'s tree, or None when it is not a file there."""
    import pygit2

    try:
        tree = repo[commit].peel(pygit2.Commit).tree
        obj = repo[tree[path].id]
    except (KeyError, ValueError, pygit2.GitError):
        return None
    if not isinstance(obj, pygit2.Blob):
        return None
    try:
        return obj.data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{commit[:12]}:{path} is not UTF-8 text") from exc


def repo_relative(path: Path, root: Path) -> str | None:
    """`path` as a tree path when it lies inside the work tree at `root` (relative paths are), else None."""
    full = path if path.is_absolute() else Path.cwd() / path
    try:
        relative = full.resolve().relative_to(root.resolve())
    except ValueError:
        return None
    return PurePosixPath(*relative.parts).as_posix()


def base_config(repo: pygit2.Repository | None, base: str, *, root: Path, config_path: Path | None) -> BaseConfig:
    """`.qwen-review.toml` or `[tool.qwen-review]` of `pyproject.toml` as the base commit has them.

    `--config PATH` inside the repository is read from the base commit too; a path outside it (a
    file the workflow wrote, say under $RUNNER_TEMP) is read from disk. `repo` None: the base
    commit is not available, so only an outside `--config` can apply.
    """
    if config_path is not None:
        relative = repo_relative(config_path, root)
        if relative is None:
            return BaseConfig(read_config_file(config_path), str(config_path))
        if repo is None:
            raise ConfigError(f"--config {config_path}: the base commit {base[:12]} is not available to read it from")
        text = blob_text(repo, base, relative)
        if text is None:
            raise ConfigError(f"--config {config_path}: no such file in the base commit {base[:12]}",
                              hint="pull requests read their config from the base commit, never from the PR")
        return BaseConfig(parse_config_text(text, f"{base[:12]}:{relative}"), f"{base[:12]}:{relative}")
    if repo is None:
        return BaseConfig({}, "settings")
    name = config_file_name(lambda root_file: blob_text(repo, base, root_file), warn=output.warn)
    if name is None:
        return BaseConfig({}, "settings")
    source = f"{base[:12]}:{name}"
    return BaseConfig(parse_config_text(blob_text(repo, base, name) or "", source), source)


def base_templates(repo: pygit2.Repository | None, base: str, *, root: Path,
                   templates_dir: str | None) -> jinja2.BaseLoader:
    """A loader over the base commit's template directory; never None, so nothing reads the work tree.

    An absolute `templates_dir` outside the repository (named by the trusted base config) is read
    from disk; one inside it is read from the base commit.
    """
    import jinja2

    from qwen_review.prompts import directory_loader

    directory = templates_dir or REPO_TEMPLATES_DIR
    relative: str | None = directory
    if Path(directory).is_absolute():
        relative = repo_relative(Path(directory), root)
        if relative is None:
            return directory_loader(Path(directory))
    relative = PurePosixPath(relative or ".").as_posix().strip("/")
    relative = "" if relative == "." else relative
    if ".." in PurePosixPath(relative).parts:
        raise ConfigError(f"templates_dir {directory!r} must stay inside the repository")
    if repo is None:
        return jinja2.DictLoader({})
    return blob_loader(repo, base, relative)


def blob_loader(repo: pygit2.Repository, commit: str, directory: str) -> jinja2.BaseLoader:
    """A Jinja loader that reads `directory/<name>` from `commit`'s tree."""
    import jinja2

    class BlobLoader(jinja2.BaseLoader):
        def get_source(self, environment: jinja2.Environment, template: str
                       ) -> tuple[str, str | None, Callable[[], bool] | None]:
            path = f"{directory}/{template}" if directory else template
            text = blob_text(repo, commit, path)
            if text is None:
                raise jinja2.TemplateNotFound(template)
            return text, f"{commit[:12]}:{path}", lambda: True

    return BlobLoader()
