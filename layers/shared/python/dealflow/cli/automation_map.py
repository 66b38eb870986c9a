"""``dealflow map``: the tenant's automation map — pipelines as rows of stages, tunnels as arrows,
rules and triggers as badges, broken and looping automation marked — as SVG, Mermaid text or the
console's HTML page, drawn by the API (``GET /console/map``) so it is the picture the console shows."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dealflow.cli.api_target import ApiTarget, api_options, api_target_of

SUFFIX_FORMAT = {".svg": "svg", ".mmd": "mermaid", ".mermaid": "mermaid", ".md": "mermaid", ".html": "html"}


def draw(args: argparse.Namespace, api: ApiTarget) -> int:
    chosen = args.format or SUFFIX_FORMAT.get(Path(args.output).suffix.lower() if args.output else "", "svg")
    text = api.text("/console/map", query={"format": chosen})
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"the {chosen} map is in {args.output}")
    else:
        print(text, end="")
    return 0


def add_commands(commands: Any, _where: argparse.ArgumentParser) -> None:
    p = commands.add_parser(
        "map",
        parents=[api_options()],
        help="draw the tenant's pipelines, tunnels, rules and triggers (SVG, Mermaid or HTML)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--format", choices=("svg", "mermaid", "html"), help="default: from --output's suffix, else svg")
    p.add_argument("-o", "--output", metavar="FILE", help="write it here (default: standard output)")
    p.set_defaults(run=draw, where=api_target_of)
