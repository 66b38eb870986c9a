"""The ``dealflow`` command: for the people who run a Dealflow stack, with AWS credentials (no
tenant token reaches it). Tenants, their users and plans, webhook secrets, and a smoke test that
proves a deployment end to end. ``dealflow --help`` says the rest."""
