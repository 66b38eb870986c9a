"""A tenant's export document as a directory of YAML files, and back — one file per pipeline, per
automation and per field–step workflow, so a change in git touches the file of what changed:

    dealflow.yaml                    format: dealflow/v1 (marks the directory as Dealflow's)
    constants.yaml                   the constants, by name
    fields.yaml                      the custom fields, by code
    calendar.yaml                    the tenant's working calendar (only when it has one)
    pipelines/<id>.yaml              one pipeline, its stages in order
    automation/<id>.yaml             one rule, tunnel, trigger or business process (``kind`` says)
    field-step-workflows/<id>.yaml   one field–step workflow

Keys keep the order the API gives them and files are named by id, so an export of the same
automation writes the same bytes. Comments: a file whose definition did not change is not written
at all (its comments stay); a rewritten file keeps the comment lines at its top, and loses those
inside (PyYAML does not keep them; no round-trip YAML library is a dependency here)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from dealflow.authoring.document_text import from_yaml, to_yaml
from dealflow.authoring.transfer import FORMAT

MARKER, CONSTANTS, FIELDS, CALENDAR = "dealflow.yaml", "constants.yaml", "fields.yaml", "calendar.yaml"
# section of the document → (folder, key that names an item)
FOLDERS = {
    "pipelines": ("pipelines", "id"),
    "automation": ("automation", "id"),
    "field_step_workflows": ("field-step-workflows", "id"),
}
FileChange = Literal["created", "updated", "deleted", "unchanged"]


@dataclass(frozen=True)
class Problem:
    file: str  # relative to the directory
    field: str
    problem: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field + ': ' if self.field else ''}{self.problem}"


def document_files(document: dict[str, Any]) -> dict[str, Any]:
    """Relative path → the content that file holds (plain data), for every file of ``document``."""
    files: dict[str, Any] = {
        MARKER: {"format": document.get("format", FORMAT)},
        CONSTANTS: dict(document.get("constants") or {}),
        FIELDS: list(document.get("fields") or []),
    }
    if document.get("calendar") is not None:
        files[CALENDAR] = document["calendar"]
    for section, (folder, key) in FOLDERS.items():
        for item in document.get(section) or []:
            files[f"{folder}/{item[key]}.yaml"] = item
    return files


def _header(text: str) -> str:
    """The comment lines (and blank lines between them) at the top of a file's text."""
    kept: list[str] = []
    for line in text.splitlines(keepends=True):
        if line.lstrip().startswith("#") or (kept and not line.strip()):
            kept.append(line)
        else:
            break
    while kept and not kept[-1].strip():
        kept.pop()
    return "".join(kept)


def _read(path: Path) -> Any:
    return from_yaml(path.read_text(encoding="utf-8"))


def write_directory(document: dict[str, Any], directory: Path) -> dict[str, FileChange]:
    """Makes ``directory`` hold ``document``: writes the files whose content differs, deletes the
    item files of definitions the document no longer has; what happened to each file."""
    wanted = document_files(document)
    changes: dict[str, FileChange] = {}
    for relative, content in wanted.items():
        path = directory / relative
        old_text = path.read_text(encoding="utf-8") if path.exists() else None
        if old_text is not None:
            try:
                if from_yaml(old_text) == content:
                    changes[relative] = "unchanged"
                    continue
            except yaml.YAMLError:
                pass  # a file that is not YAML is rewritten
        header = _header(old_text) if old_text else ""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text((header + "\n" if header else "") + to_yaml(content), encoding="utf-8")
        changes[relative] = "created" if old_text is None else "updated"
    stale = [directory / CALENDAR] if CALENDAR not in wanted and (directory / CALENDAR).exists() else []
    for folder, _ in FOLDERS.values():
        stale += sorted(p for p in (directory / folder).glob("*.yaml") if f"{folder}/{p.name}" not in wanted)
    for path in stale:
        path.unlink()
        changes[path.relative_to(directory).as_posix()] = "deleted"
    return dict(sorted(changes.items()))


def _yaml_problem(relative: str, exc: yaml.YAMLError) -> Problem:
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}" if mark is not None else ""
    return Problem(relative, where, f"not valid YAML: {getattr(exc, 'problem', None) or exc}")


def read_directory(directory: Path) -> tuple[dict[str, Any], list[Problem]]:
    """The document ``directory`` holds, and what is wrong with its files as files: not YAML, not
    the shape expected, an item whose id is not its file's name, a file nobody reads."""
    if not (directory / MARKER).is_file():
        return {}, [Problem(MARKER, "", f"missing: is {directory} a directory `dealflow export` wrote?")]
    problems: list[Problem] = []
    contents: dict[str, Any] = {}
    known_files = {MARKER, CONSTANTS, FIELDS, CALENDAR}
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and not _hidden(p, directory)):
        relative = path.relative_to(directory).as_posix()
        folder = relative.split("/", 1)[0] if "/" in relative else None
        managed = relative in known_files or (
            folder in {f for f, _ in FOLDERS.values()} and relative.count("/") == 1 and path.suffix == ".yaml"
        )
        if not managed:
            if path.suffix in {".yaml", ".yml"}:
                problems.append(
                    Problem(
                        relative,
                        "",
                        "not read: items go under pipelines/, automation/ or field-step-workflows/ as <id>.yaml",
                    )
                )
            continue
        try:
            contents[relative] = _read(path)
        except yaml.YAMLError as exc:
            problems.append(_yaml_problem(relative, exc))
    marker = contents.get(MARKER) or {}
    if not isinstance(marker, dict) or marker.get("format") != FORMAT:
        problems.append(Problem(MARKER, "format", f"expected {FORMAT}"))
    constants = contents.get(CONSTANTS) or {}
    if not isinstance(constants, dict):
        problems.append(Problem(CONSTANTS, "", "expected the constants by name (a mapping)"))
        constants = {}
    fields = contents.get(FIELDS) or []
    if not isinstance(fields, list):
        problems.append(Problem(FIELDS, "", "expected a list of fields"))
        fields = []
    document: dict[str, Any] = {"format": FORMAT, "pipelines": [], "fields": fields, "automation": []}
    document["field_step_workflows"] = []
    for section, (folder, key) in FOLDERS.items():
        for relative, item in contents.items():
            if not relative.startswith(folder + "/"):
                continue
            stem = relative[len(folder) + 1 : -len(".yaml")]
            if not isinstance(item, dict):
                problems.append(Problem(relative, "", "expected one definition (a mapping)"))
            elif item.get(key) != stem:
                problems.append(Problem(relative, key, f"is {item.get(key)!r}; the file is named for '{stem}'"))
            else:
                document[section].append(item)
    document["constants"] = constants
    calendar = contents.get(CALENDAR)
    if calendar is not None and not isinstance(calendar, dict):
        problems.append(Problem(CALENDAR, "", "expected the calendar (a mapping: time_zone, hours, holidays)"))
    elif calendar is not None:
        document["calendar"] = calendar
    return document, problems


def _hidden(path: Path, directory: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(directory).parts)


def file_of(field: str, document: dict[str, Any]) -> tuple[str, str]:
    """Where an API problem's ``field`` (``automation.<id>.actions.0.to``) is in the directory:
    (file, field within it). Ids may hold dots, so the longest id of the section that fits wins."""
    section, _, rest = field.partition(".")
    if section == "constants":
        return CONSTANTS, rest
    if section == "fields":
        return FIELDS, rest
    if section == "calendar":
        return CALENDAR, rest
    if section in FOLDERS:
        folder, key = FOLDERS[section]
        ids = sorted((str(item.get(key)) for item in document.get(section) or []), key=len, reverse=True)
        for named in ids:
            if rest == named or rest.startswith(named + "."):
                return f"{folder}/{named}.yaml", rest[len(named) + 1 :]
    return "(document)", field
