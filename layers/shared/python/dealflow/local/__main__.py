"""The local harness's commands: ``python -m dealflow.local --help`` lists them, and
``python -m dealflow.local <command> --help`` tells each one's options."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _where(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--server", action="store_true", help="start a moto server on 127.0.0.1 and use it over HTTP")
    where.add_argument("--endpoint", help="use a running moto server, e.g. http://127.0.0.1:5000")


def _parser() -> argparse.ArgumentParser:
    from dealflow.local.seed import DEFAULT_ENDPOINT, REGION, SAMPLE_WEBHOOK_SECRET
    from dealflow.model.tenant import Role

    parser = argparse.ArgumentParser(
        prog="python -m dealflow.local", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    demo = commands.add_parser("demo", help="run the demo on moto")
    _where(demo)
    demo.add_argument(
        "--map-dir", type=Path, help="write each tenant's automation map here (default: the temp dir's dealflow-demo)"
    )
    api = commands.add_parser("api", help="serve the management API on 127.0.0.1 over moto")
    api.add_argument("--port", type=int, default=8000, help="the port on 127.0.0.1 (default 8000)")
    _where(api)
    seed = commands.add_parser("seed", help="load the data events/ names onto a running moto server")
    seed.add_argument("--endpoint", default=DEFAULT_ENDPOINT, help=f"the moto server (default {DEFAULT_ENDPOINT})")
    seed.add_argument("--region", default=REGION, help=f"as env.json's ARNs say (default {REGION})")
    sign = commands.add_parser("sign-event", help="sign a webhook sample event afresh")
    sign.add_argument("file", type=Path, help="an HTTP API event, e.g. events/webhook-invoice-paid.json")
    sign.add_argument("--secret", default=SAMPLE_WEBHOOK_SECRET, help="default: the secret seed stores for acme")
    sign.add_argument("--output", type=Path, help="write the signed event here (default: standard output)")
    token = commands.add_parser("token", help="print an unsigned bearer token for the local API server")
    token.add_argument("tenant", help="e.g. acme")
    token.add_argument("user", help="e.g. u-admin")
    token.add_argument("role", choices=[role.value for role in Role])
    return parser


def cli(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if args.command == "demo":
        from dealflow.local.demo import main

        main(endpoint=args.endpoint, server=args.server, map_dir=args.map_dir)
    elif args.command == "api":
        from dealflow.local.server import main as serve

        serve(port=args.port, endpoint=args.endpoint, server=args.server)
    elif args.command == "token":
        from dealflow.local.tokens import caller_token

        print(caller_token(args.tenant, args.user, args.role))
    elif args.command == "seed":
        from dealflow.local.seed import main as seed

        seed(endpoint=args.endpoint, region=args.region)
    else:
        from dealflow.local.resign import resign

        signed = json.dumps(resign(json.loads(args.file.read_text()), args.secret), indent=2) + "\n"
        if args.output is None:
            sys.stdout.write(signed)
        else:
            args.output.write_text(signed)


if __name__ == "__main__":
    cli()
