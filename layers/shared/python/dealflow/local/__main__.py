"""``python -m dealflow.local demo [--server | --endpoint URL]``: run the demo on moto."""

from __future__ import annotations

import argparse

from dealflow.local.demo import main


def cli() -> None:
    parser = argparse.ArgumentParser(prog="python -m dealflow.local", description=__doc__)
    parser.add_argument("command", choices=["demo"], help="what to run")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--server", action="store_true", help="start a moto server on 127.0.0.1 and use it over HTTP")
    where.add_argument("--endpoint", help="use a running moto server, e.g. http://127.0.0.1:5000")
    args = parser.parse_args()
    main(endpoint=args.endpoint, server=args.server)


if __name__ == "__main__":
    cli()
