"""``python -m dealflow.cli``: the ``dealflow`` command without installing its console script."""

from dealflow.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
