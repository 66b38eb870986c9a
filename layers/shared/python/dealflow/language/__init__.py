"""What users write, compiled: structured conditions (``conditions``) and Jinja2 texts and
expressions in the sandbox (``templates``). Depends on ``dealflow.model`` only."""
