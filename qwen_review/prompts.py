"""Render review units into chat messages from Jinja2 templates (StrictUndefined)."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from qwen_review.errors import ConfigError, UsageError
from qwen_review.review import Message

if TYPE_CHECKING:
    import jinja2

    from qwen_review.chunking import ReviewUnit, UnitFile
    from qwen_review.diff import Hunk

TEMPLATE_NAMES = ("system.j2", "unit.j2", "summary.md.j2", "report.md.j2",
                  "summary_comment.md.j2", "inline_comment.md.j2")
REPO_TEMPLATES_DIR = ".qwen-review/templates"
_PLACEHOLDER_MARKER = "DIFF-" + "0" * 16  # as long as a real unit marker


def default_templates_dir() -> Path:
    """Inside the wheel the templates sit in the package; in a source checkout, beside it."""
    packaged = Path(__file__).resolve().parent / "templates"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parent.parent / "templates"


def make_environment(override: jinja2.BaseLoader | None = None) -> jinja2.Environment:
    """A repository's templates (when given) first, then the packaged defaults."""
    import jinja2

    loaders: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader(str(default_templates_dir()))]
    if override is not None:
        loaders.insert(0, override)
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders), undefined=jinja2.StrictUndefined, autoescape=False,
        keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
    )


def directory_loader(path: Path) -> jinja2.BaseLoader:
    import jinja2

    if not path.is_dir():
        raise ConfigError(f"templates_dir {path} is not a directory")
    return jinja2.FileSystemLoader(str(path))


def export_templates(destination: Path) -> list[Path]:
    """Copy the default templates to `destination`; nothing is written if any of them is already there."""
    source = default_templates_dir()
    if destination.exists() and not destination.is_dir():
        raise UsageError(f"{destination} exists and is not a directory")
    names = [name for name in TEMPLATE_NAMES if (source / name).is_file()]
    clashes = [str(destination / name) for name in names if (destination / name).exists()]
    if clashes:
        one = len(clashes) == 1
        raise UsageError(f"{', '.join(clashes)} already exist{'s' if one else ''}; "
                         f"remove {'it' if one else 'them'} or export elsewhere")
    try:
        destination.mkdir(parents=True, exist_ok=True)
        for name in names:
            shutil.copyfile(source / name, destination / name)
    except OSError as exc:
        raise UsageError(f"cannot export the templates to {destination}: {exc.strerror or exc}") from exc
    return [destination / name for name in names]


def number_lines(hunk: Hunk) -> str:
    """The hunk body with each line's number in front: new-side for '+' and context, old-side for '-'.

    One number per line, unpadded: digits are a token each for Qwen's tokenizer, so an old and a
    new column (or padding) would cost about a fifth more prompt tokens (bench/tokens.py).
    """
    old, new = hunk.old_start, hunk.new_start
    out: list[str] = []
    append = out.append
    for raw in hunk.body:
        origin = raw[:1]
        if origin == "+":
            append(f"{new} {raw}")
            new += 1
        elif origin == "-":
            append(f"{old} {raw}")
            old += 1
        elif origin == " ":
            append(f"{new} {raw}")
            old += 1
            new += 1
    return "\n".join(out)


class HunkView:
    """What a template sees of a hunk; the numbered text is built only if a template asks for it."""

    def __init__(self, hunk: Hunk) -> None:
        self.hunk = hunk
        self.header = hunk.header
        self.old_start, self.new_start = hunk.old_start, hunk.new_start

    @cached_property
    def numbered(self) -> str:
        return number_lines(self.hunk)

    @property
    def lines(self) -> list[object]:
        return list(self.hunk.lines())


class FileView:
    """What a template sees of a file's part in a unit."""

    def __init__(self, part: UnitFile) -> None:
        file = part.file
        self.path, self.old_path, self.status = file.path, file.old_path, file.status
        self.part, self.parts, self.notes = part.part, part.parts, part.notes
        self._hunks = part.hunks

    @cached_property
    def hunks(self) -> list[HunkView]:
        return [HunkView(h) for h in self._hunks]

    @cached_property
    def diff(self) -> str:
        """Every hunk: its header line, then its numbered lines. One string, so the default
        template does not loop per hunk (that loop was a third of a large dry run's time)."""
        return "\n".join(f"{h.header}\n{number_lines(h)}" for h in self._hunks)


class PromptRenderer:
    """Turns units into messages; the system prompt is rendered once per run."""

    def __init__(self, env: jinja2.Environment, *, language: str | None, instructions: str | None) -> None:
        self.env = env
        self.language = language or ""
        self.instructions = (instructions or "").strip()
        self._unit = self._template("unit.j2")
        self._system_template = self._template("system.j2")

    def _template(self, name: str) -> jinja2.Template:
        import jinja2

        try:
            return self.env.get_template(name)
        except jinja2.TemplateError as exc:
            raise template_error(name, exc) from exc

    def system(self, marker: str = _PLACEHOLDER_MARKER) -> str:
        return self._render(self._system_template, **self._markers(marker))

    def messages(self, unit: ReviewUnit, index: int, count: int) -> tuple[Message, ...]:
        marker = _unit_marker(unit)
        user = self._render(self._unit, files=[FileView(f) for f in unit.files], unit_index=index,
                            unit_count=count, **self._markers(marker))
        return (Message("system", self.system(marker)), Message("user", user))

    def overhead_text(self) -> str:
        """The fixed text every unit carries: the system prompt and the unit template's frame."""
        # Rendered with a marker of the real markers' length, and a unit count that shows the part line,
        # so the estimate is an upper bound of every unit's frame.
        return self.system() + self._render(self._unit, files=[], unit_index=99999, unit_count=99999,
                                            **self._markers(_PLACEHOLDER_MARKER))

    def _markers(self, marker: str) -> dict[str, str]:
        return {"begin_marker": f"<<<BEGIN-{marker}>>>", "end_marker": f"<<<END-{marker}>>>",
                "language": self.language, "instructions": self.instructions}

    def _render(self, template: jinja2.Template, **values: object) -> str:
        import jinja2

        try:
            return template.render(**values)
        except jinja2.TemplateError as exc:
            raise template_error(template.name or "?", exc) from exc


def _unit_marker(unit: ReviewUnit) -> str:
    """A marker the diff cannot forge: derived from the unit's own content, so also stable for the cache."""
    digest = hashlib.sha256()
    for part in unit.files:
        digest.update(part.file.path.encode("utf-8", "surrogatepass"))
        for hunk in part.hunks:
            digest.update("\n".join(hunk.body).encode("utf-8", "surrogatepass"))
    return "DIFF-" + digest.hexdigest()[:16]


def template_error(name: str, exc: jinja2.TemplateError) -> ConfigError:
    """A broken or misspelt template (often a repository's override) is a configuration error: exit 2."""
    import jinja2

    where = f" line {exc.lineno}" if isinstance(exc, jinja2.TemplateSyntaxError) else ""
    return ConfigError(f"template {name}{where}: {exc.message or exc}")


def render_template(env: jinja2.Environment, name: str, **values: object) -> str:
    import jinja2

    try:
        return env.get_template(name).render(**values)
    except jinja2.TemplateError as exc:
        raise template_error(name, exc) from exc


def render_summary(env: jinja2.Environment, *, summaries: Sequence[str], findings_count: int,
                   files_reviewed: int, units: int, failed_units: int) -> str:
    """The review summary from the unit summaries: each text once, in first-seen order, and with
    several units none that says nothing ("No issues.", "LGTM"), which 64 units would repeat 64 times."""
    says_nothing = {"no issues", "no issues found", "no issue found", "no problems found", "no findings",
                    "lgtm", "looks good", "looks good to me", "nothing to report", "none"}
    kept: dict[str, str] = {}  # whitespace and case aside, the same text is the same summary
    for summary in summaries:
        text = summary.strip()
        key = " ".join(text.split()).casefold()
        if text and not (units > 1 and key.rstrip(".!") in says_nothing):
            kept.setdefault(key, text)
    text = render_template(
        env, "summary.md.j2", summaries=list(kept.values()),
        findings_count=findings_count, files_reviewed=files_reviewed, units=units, failed_units=failed_units,
    )
    return text.strip()
