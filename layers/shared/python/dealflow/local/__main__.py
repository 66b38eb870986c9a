"""``python -m dealflow.local demo [--server | --endpoint URL]``: run the demo on moto.
``python -m dealflow.local api [--port 8000] [--server | --endpoint URL]``: serve the management
API on 127.0.0.1 over moto, with the demo tenants (local only: tokens are not verified)."""

from __future__ import annotations

import argparse

from dealflow.local.demo import main


def cli() -> None:
    parser = argparse.ArgumentParser(prog="python -m dealflow.local", description=__doc__)
    parser.add_argument("command", choices=["demo", "api"], help="what to run")
    parser.add_argument("--port", type=int, default=8000, help="api: the port on 127.0.0.1 (default 8000)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--server", action="store_true", help="start a moto server on 127.0.0.1 and use it over HTTP")
    where.add_argument("--endpoint", help="use a running moto server, e.g. http://127.0.0.1:5000")
    args = parser.parse_args()
    if args.command == "api":
        from dealflow.local.server import main as serve

        serve(port=args.port, endpoint=args.endpoint, server=args.server)
    else:
        main(endpoint=args.endpoint, server=args.server)


if __name__ == "__main__":
    cli()
