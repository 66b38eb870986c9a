"""What users write, compiled: structured conditions (``conditions``), Jinja2 texts and expressions
in the sandbox (``templates``), and the save-time check of the templates a model holds (``checks``).
Depends on ``dealflow.model`` only."""
