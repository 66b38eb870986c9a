"""What AWS allows a Lambda durable execution, each limit named once with the documented value.

A flat module of constants: the local runner enforces them (``dealflow.local.strict``), and save-time
checks may compare automation against them. Each comment names where the value is documented.
"""

from __future__ import annotations

# Lambda quotas, "Durable functions": "Maximum number of durable operations per durable execution:
# 3,000. Cannot be increased." (docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html)
MAX_OPERATIONS_PER_EXECUTION = 3_000

# Lambda durable execution SDK, "persisted data per durable operation": a step's result (and any
# operation's payload) as the SDK serialised it may be at most 256 KB; the Python SDK names the
# same value CHECKPOINT_SIZE_LIMIT_BYTES (aws_durable_execution_sdk_python.constants).
MAX_CHECKPOINT_PAYLOAD_BYTES = 256 * 1024

# Durable execution input (the run request the dispatcher sends): 256 KB, the durable SDK limits
# ("Maximum input payload: 256 KB") and Lambda's asynchronous invocation payload.
MAX_EXECUTION_INPUT_BYTES = 256 * 1024

# Lambda quotas, "Durable execution storage written in megabytes: 100 MB. Cannot be increased.
# Cumulative payload size persisted by durable functions per execution."
MAX_EXECUTION_STORAGE_BYTES = 100 * 1024 * 1024

# DurableConfig.ExecutionTimeout, "Valid Range: Minimum value of 1. Maximum value of 31622400"
# (docs.aws.amazon.com/lambda/latest/api/API_DurableConfig.html): one 366-day year. A single wait
# can be no longer than the execution it is in.
MAX_EXECUTION_TIMEOUT_SECONDS = 31_622_400
MAX_WAIT_SECONDS = MAX_EXECUTION_TIMEOUT_SECONDS

# Lambda quotas, "Function timeout: 900 seconds (15 minutes)": one invocation, i.e. one replay up
# to the next wait. The runner's own Timeout in template.yaml is what a run actually gets.
MAX_INVOCATION_TIMEOUT_SECONDS = 900
