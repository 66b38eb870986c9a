"""The engine: from one deal change to the runs it starts, and each run as durable steps.

``changes`` (what a change is), ``compiled`` (a tenant's automation compiled and indexed),
``dispatch`` (which runs a change starts), ``nodes`` and ``compile_run`` (every kind of automation
as one node tree), ``interpreter`` (the one walker: a run as durable steps; with ``run_record`` and
``delays``), ``actions/`` (one module per action kind), ``testmode``, ``dispatch_log`` (not-started,
loop and cancel entries), ``field_steps``, ``references``. It talks to the world only through
``dealflow.ports``."""
