"""README.md runs as written: every code block, in order, against the local API server on moto.

- ``json``: a request body, sent to the route an HTML comment right before it names
  (``<!-- readme-test: PUT /automation/{id} as globex -->``), else ``PUT /automation/{id}`` for an
  automation (its ``kind`` says so), else the one route the paragraph before it names; ``{id}``,
  ``{code}``, ``{name}`` come from the body, ``{tenant_id}`` is the tenant (acme unless ``as``
  says otherwise). The caller is the tenant's administrator; ``/webhooks/…`` is signed with the
  secret the local API server gives acme. It must answer 2xx.
- ``python``: saved to a file and run by the venv's interpreter; any ``test_*`` function it defines
  is called. It must exit 0 (README's examples assert what they show).
- shell (``bash`` or no language, indented blocks too): run by bash with ``-e``; ``curl`` is
  tests/integration/readme_curl.py, which logs each answer: every call answers 2xx unless the
  comment line right after it says the status (``# 422 …``).
- ``text``, or any block marked ``<!-- readme-test: output -->`` (an answer shown as JSON): output
  or diagrams, not examples.

README's ``127.0.0.1:8000`` is the module's server (port 0, a free one) and ``.venv/bin/`` this
interpreter's directory. A block that cannot run here is marked ``<!-- readme-test: skip (why) -->``
and counted; the one that starts the local API server, ``<!-- readme-test: served (…) -->``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, get_args

import pytest
from markdown_it import MarkdownIt

from dealflow.authoring.transfer import export_document
from dealflow.engine.compiled import compile_tenant
from dealflow.local import MotoStack
from dealflow.local.cfn_yaml import load_template
from dealflow.local.seed import SAMPLE_WEBHOOK_SECRET
from dealflow.local.server import LocalApi, set_up_served
from dealflow.local.tokens import caller_token
from dealflow.model import Tenant
from dealflow.model.automation import Action, ExternalEvent, InternalEvent
from dealflow.model.catalog import AUTOMATION_KINDS, union_tags
from dealflow.model.conditions import Operator
from dealflow.model.process import Node, StartOn
from dealflow.model.run import RunStatus
from dealflow.model.tenant import PlanName, Role, ValueType
from dealflow.policy.plans import Allowance, Usage
from dealflow.webhooks import signed_headers

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
CURL = Path(__file__).with_name("readme_curl.py")
PYTHON = Path(sys.executable)
README_SERVER = "127.0.0.1:8000"  # where README's examples find the local API server
SHELLS = frozenset({"", "bash", "sh", "shell"})
MAX_SKIPS = 12  # sam, an AWS account or a deployed stack, the suite itself, servers on fixed ports, a console query
# What a block must never do here, whatever it says: install into this interpreter's environment,
# run the suite inside the suite, reach AWS or start a server that never returns. Such a block is
# marked skipped (or, for the local API server, served) instead.
# README's set-up, the same as CI's: already done for the interpreter running this test.
SET_UP = "python3 -m venv .venv && .venv/bin/pip install -q -r requirements-dev.txt && "
UNSAFE = re.compile(r"(?:^|[\s;&|(/])(?:pip3?|sam|aws|moto_server)\s|-m (?:venv|pytest|pip)\b|-m dealflow\.local api\b")
BLOCK_TIMEOUT = 300  # seconds; the slowest block (the demo) takes a fraction of it
# The environment before any stack of this session set its own (fake credentials, table names).
BASE_ENV = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
MARKER = re.compile(r"<!--\s*readme-test:\s*(.*?)\s*-->", re.S)
ROUTE = re.compile(r"\b(GET|POST|PUT|PATCH|DELETE)\s+(?:https?://\S*?)?(/[\w{}/.-]*)")
ROUTE_MARK = re.compile(r"(GET|POST|PUT|PATCH|DELETE)\s+(\S+)(?:\s+as\s+([\w-]+))?")
CURL_CALL = re.compile(r"(?:^|[\s;&|(])curl\s")
STATUS_NOTE = re.compile(r"#\s*(\d{3})\b")
RUN_PYTHON = (
    "import runpy, sys\n"
    "found = runpy.run_path(sys.argv[1], run_name='__main__')\n"
    "for name, test in found.items():\n"
    "    if name.startswith('test_') and callable(test):\n"
    "        test()\n"
)


class ExampleFailed(AssertionError):
    pass


@dataclass(frozen=True)
class Block:
    line: int  # README line of the opening fence or first indented line, from 1
    lang: str
    text: str
    marker: str | None  # the readme-test comment right before it
    prose: str  # the paragraph before it

    @property
    def kind(self) -> str:
        if self.marker is not None and self.marker.startswith(("skip", "served", "output", "part")):
            return self.marker.split()[0]
        if self.lang in ("text", "json", "python"):
            return self.lang
        return "shell" if self.lang in SHELLS else "unknown"

    def __str__(self) -> str:
        return f"README.md:{self.line} ({self.lang or 'shell'} block)"


def blocks(markdown: str) -> list[Block]:
    found: list[Block] = []
    marker: str | None = None
    prose = ""
    for token in MarkdownIt("commonmark").parse(markdown):
        if token.type == "html_block":
            mark = MARKER.search(token.content)
            marker = mark.group(1) if mark else marker
        elif token.type == "inline":
            prose, marker = token.content, None
        elif token.type in ("fence", "code_block"):
            line = (token.map or [0])[0] + 1
            found.append(Block(line, token.info.strip().split(" ")[0], token.content, marker, prose))
            marker = None
    return found


BLOCKS = blocks(README.read_text())


def _request(url: str, method: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _route(block: Block, body: Any) -> tuple[str, str, str]:
    """(method, path template, tenant) for a JSON block."""
    if block.marker is not None:
        mark = ROUTE_MARK.fullmatch(block.marker)
        if mark is None:
            raise ExampleFailed(
                f"marker {block.marker!r}: say 'METHOD /path [as tenant]', 'skip (why)', 'output', "
                "'part (action)' or 'served'"
            )
        return mark[1], mark[2], mark[3] or "acme"
    if not isinstance(body, dict):
        raise ExampleFailed("the API takes one object per request: one JSON block per body")
    if body.get("kind") in AUTOMATION_KINDS:
        return "PUT", "/automation/{id}", "acme"
    routes = set(ROUTE.findall(block.prose))
    if len(routes) != 1:
        raise ExampleFailed(
            f"the paragraph before it names {len(routes)} routes ({sorted(routes)}): say which one takes this body "
            "with <!-- readme-test: METHOD /path --> right before the block"
        )
    method, path = routes.pop()
    return method, path, "acme"


def _fill(path: str, body: Any, tenant: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match[1]
        if name == "tenant_id":
            return tenant
        if isinstance(body, dict) and isinstance(body.get(name), str):
            return str(body[name])
        raise ExampleFailed(f"{path}: the body has no {name!r} to fill {{{name}}} with")

    return re.sub(r"\{(\w+)\}", value, path)


def expected_statuses(script: str) -> list[int | None]:
    """Per curl call in order: the status the comment line after it names, or None (any 2xx)."""
    lines = re.sub(r"\\\n", " ", script).splitlines()
    expected: list[int | None] = []
    for i, line in enumerate(lines):
        if line.lstrip().startswith("#"):
            continue
        calls = len(CURL_CALL.findall(line))
        note = STATUS_NOTE.match(lines[i + 1].strip()) if i + 1 < len(lines) else None
        expected += [int(note[1]) if note else None] * calls
    return expected


class Examples:
    """Runs README's blocks against the server at ``url``, in a scratch directory ``work``."""

    def __init__(self, url: str, work: Path) -> None:
        self.url, self.work = url, work
        shims = work / "bin"
        shims.mkdir()
        for name, command in {"curl": f'"{PYTHON}" "{CURL}"', "dealflow": f'"{PYTHON}" -m dealflow.cli'}.items():
            shim = shims / name
            shim.write_text(f'#!/bin/sh\nexec {command} "$@"\n')
            shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
        self.log = work / "curl.log"
        path = os.pathsep.join(p for p in (str(ROOT / "layers/shared/python"), BASE_ENV.get("PYTHONPATH")) if p)
        self.env = {
            **BASE_ENV,
            "PATH": os.pathsep.join([str(shims), str(PYTHON.parent), BASE_ENV.get("PATH", "")]),
            "PYTHONPATH": path,
            "README_CURL_LOG": str(self.log),
        }

    def adapt(self, text: str) -> str:
        return text.replace(f"http://{README_SERVER}", self.url).replace(
            README_SERVER, self.url.removeprefix("http://")
        )

    def run(self, block: Block) -> None:
        getattr(self, f"_{block.kind}")(block)

    def _skip(self, block: Block) -> None:
        if not re.fullmatch(r"skip \(.+\)", block.marker or ""):
            raise ExampleFailed("a skip says why: <!-- readme-test: skip (needs an AWS account) -->")

    def _part(self, block: Block) -> None:
        """A piece of a request (one action, one process node): valid as its model takes it."""
        from pydantic import TypeAdapter, ValidationError

        from dealflow.model.automation import Action
        from dealflow.model.process import Node

        models: dict[str, Any] = {"part (action)": Action, "part (process node)": Node}
        if block.marker not in models:
            raise ExampleFailed(f"say which part: {' or '.join(repr(m) for m in models)}")
        try:
            TypeAdapter(models[block.marker]).validate_python(json.loads(block.text))
        except (json.JSONDecodeError, ValidationError) as error:
            raise ExampleFailed(f"not a valid {block.marker[6:-1]}: {error}") from None

    def _served(self, block: Block) -> None:
        if "-m dealflow.local api" not in block.text:
            raise ExampleFailed("'served' marks the command that starts the local API server, and this is not it")

    def _text(self, block: Block) -> None:
        pass

    _output = _text

    def _unknown(self, block: Block) -> None:
        raise ExampleFailed(f"a block in {block.lang!r}: give it json, python, bash or text, or mark it skipped")

    def _json(self, block: Block) -> None:
        try:
            body = json.loads(block.text)
        except json.JSONDecodeError as error:
            raise ExampleFailed(f"not JSON: {error}") from None
        method, template, tenant = _route(block, body)
        path = _fill(template, body, tenant)
        raw = json.dumps(body).encode()
        if path.startswith("/webhooks/"):
            headers = signed_headers(SAMPLE_WEBHOOK_SECRET, raw)
        else:
            headers = {
                "Content-Type": "application/json",
                "Authorization": f"Bearer {caller_token(tenant, 'u-admin', 'admin')}",
            }
        status, answer = _request(self.url + path, method, raw, headers)
        if not 200 <= status < 300:
            raise ExampleFailed(f"{method} {path} as {tenant} answered {status}: {answer.decode(errors='replace')}")

    def _script(self, block: Block, suffix: str) -> Path:
        name = hashlib.sha256(block.text.encode()).hexdigest()[:8]
        script = self.work / f"readme-{block.line}-{name}{suffix}"
        script.write_text(self.adapt(block.text).replace(".venv/bin/", f"{PYTHON.parent}/"))
        return script

    def _execute(self, command: list[str]) -> None:
        try:
            done = subprocess.run(
                command, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=BLOCK_TIMEOUT
            )
        except subprocess.TimeoutExpired:
            raise ExampleFailed(f"still running after {BLOCK_TIMEOUT} s") from None
        if done.returncode != 0:
            raise ExampleFailed(f"exit status {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")

    def _python(self, block: Block) -> None:
        self._execute([str(PYTHON), "-c", RUN_PYTHON, str(self._script(block, ".py"))])

    def _shell(self, block: Block) -> None:
        block = replace(block, text=block.text.replace(SET_UP, ""))
        unsafe = UNSAFE.search(block.text)
        if unsafe:
            raise ExampleFailed(f"runs {unsafe[0]!r}: mark it <!-- readme-test: skip (why) --> if it is meant")
        self.log.write_text("")
        self._execute(["bash", "-e", "-o", "pipefail", str(self._script(block, ".sh"))])
        answered = self.log.read_text().splitlines()
        expected = expected_statuses(block.text)
        if len(answered) != len(expected):
            raise ExampleFailed(f"{len(expected)} curl calls written, {len(answered)} made: {answered}")
        for want, got in zip(expected, answered, strict=True):
            status = int(got.split()[0])
            if (want is None and not 200 <= status < 300) or (want is not None and status != want):
                raise ExampleFailed(f"{got}: README says {want or '2xx'}")


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Examples]:
    """The local API server as ``python -m dealflow.local api`` serves it, on a free port."""
    with MotoStack() as stack:
        set_up_served(stack)
        with LocalApi(stack, port=0) as api:
            yield Examples(api.url, tmp_path_factory.mktemp("readme"))


def test_ci_runs_exactly_the_readme_test_command() -> None:
    [command] = [b.text.strip() for b in BLOCKS if b.text.strip().endswith(".venv/bin/python -m pytest")]
    ci = (ROOT / ".ci" / "run").read_text()
    assert command.startswith(SET_UP) and command in ci.splitlines(), (command, ci)


def test_every_example_runs_as_written_in_order(examples: Examples) -> None:
    failures, ran = [], Counter[str]()
    for block in BLOCKS:
        try:
            examples.run(block)
        except ExampleFailed as failed:
            failures.append(f"{block}: {failed}")
        ran[block.kind] += 1
    assert not failures, "README examples that do not run as written:\n\n" + "\n\n".join(failures)
    # The extraction itself is checked: an empty README or a parser that misses blocks would pass.
    assert ran["json"] >= 5 and ran["python"] >= 3 and ran["shell"] >= 3, ran


def test_the_test_notices_a_broken_example(examples: Examples) -> None:
    rule = next(b for b in BLOCKS if b.kind == "json" and '"kind": "rule"' in b.text)
    no_kind = json.dumps({k: v for k, v in json.loads(rule.text).items() if k != "kind"})
    unknown_deal = '{"id": "evt_broken", "kind": "invoice_paid", "deal_id": "deal-404"}'
    webhook = next(b for b in BLOCKS if b.kind == "json" and "/webhooks/" in b.prose)
    broken = [
        Block(rule.line, "json", no_kind, None, ""),
        Block(webhook.line, "json", unknown_deal, None, webhook.prose),
        Block(1, "python", "assert 1 + 1 == 3\n", None, ""),
        Block(1, "bash", f"curl -s {README_SERVER}/pipelines\n", None, ""),  # no token: 401
        Block(1, "bash", f"curl -s {README_SERVER}/openapi.json\n# 404 not there\n", None, ""),
    ]
    for block in broken:
        with pytest.raises(ExampleFailed):
            examples.run(block)


def test_the_skip_list_is_explicit_and_small() -> None:
    skipped = [block for block in BLOCKS if block.kind == "skip"]
    assert all(re.fullmatch(r"skip \(.+\)", block.marker or "") for block in skipped), skipped
    assert len(skipped) <= MAX_SKIPS, [f"{block}: {block.marker}" for block in skipped]
    assert not [str(block) for block in BLOCKS if block.kind == "unknown"]


def _section(markdown: str, heading: str) -> str:
    """The text under ``heading`` down to the next heading of its level or higher."""
    tokens = MarkdownIt("commonmark").parse(markdown)
    headings = [
        (int(token.tag[1:]), tokens[i + 1].content, (token.map or [0, 0]))
        for i, token in enumerate(tokens)
        if token.type == "heading_open"
    ]
    lines = markdown.splitlines()
    for i, (level, text, (_, first)) in enumerate(headings):
        if text == heading:
            ends = [where[0] for later, _, where in headings[i + 1 :] if later <= level]
            return "\n".join(lines[first : ends[0] if ends else len(lines)])
    raise AssertionError(f"README has no section {heading!r}")


def _usage_keys() -> set[str]:
    return set(Usage.model_fields) | set(Allowance.model_fields)


def _export_keys() -> set[str]:
    return set(export_document(compile_tenant(Tenant(id="t", name="T"), {})))


TEMPLATE = load_template(ROOT / "template.yaml")

LISTS = [
    ("Test mode and the run log", "run statuses", set(get_args(RunStatus))),
    ("Automation as data", "condition operators", set(get_args(Operator))),
    ("Automation as data", "action kinds", set(union_tags(Action))),
    ("Tunnels, triggers, leads", "trigger events", set(get_args(ExternalEvent)) | set(get_args(InternalEvent))),
    ("Webhooks: outside events move deals", "webhook event kinds", set(get_args(ExternalEvent))),
    ("Business processes", "node kinds", set(union_tags(Node))),
    ("Business processes", "start_on values", set(get_args(StartOn))),
    ("Plans, constants and variables, the run log", "GET /usage keys", _usage_keys()),
    ("Business processes", "constant and variable types", set(get_args(ValueType))),
    ("Automation as code: export and import", "export keys", _export_keys()),
    ("Roles and rights (column-level)", "roles", {role.value for role in Role}),
    ("Onboard a tenant", "plans", {plan.value for plan in PlanName}),
    ("Build and deploy", "template.yaml's parameters", set(TEMPLATE["Parameters"])),
    ("Build and deploy", "the stack's outputs", set(TEMPLATE["Outputs"])),
]


@pytest.mark.parametrize(("heading", "what", "values"), LISTS, ids=[what for _, what, _ in LISTS])
def test_readme_lists_are_complete(heading: str, what: str, values: set[str]) -> None:
    """Each enumeration README gives names every value the code has, so neither can drift."""
    named = {
        child.content
        for token in MarkdownIt("commonmark").parse(_section(README.read_text(), heading))
        for child in token.children or ()
        if child.type == "code_inline"
    }
    # Keys inside `{"plan", …}`, choices in `--plan free|team`.
    named |= {word for text in named for word in re.findall(r'"(\w+)"', text) + re.split(r"[\s|,]+", text)}
    assert values <= named, f"README's section {heading!r} lacks {what}: {sorted(values - named)}"
