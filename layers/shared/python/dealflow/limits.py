"""The platform's limits a run has to stay within, one named constant each, with where it comes from.

A flat module of numbers (no logic, no imports): the engine, the save-time checks and the tests
read the same figures, and a change in AWS's documentation is a one-line change here.
"""

# Lambda quotas, "Durable functions": maximum number of durable operations per durable execution,
# 3,000, cannot be increased (every step, wait and the execution itself counts; a step's retries
# count again). https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html#durable-functions-quotas
MAX_OPERATIONS_PER_RUN = 3_000

# The longest single durable wait: 31,622,400 s (366 days). aws-durable-execution-sdk-python,
# lambda_service.WaitOptions ("wait_seconds accepts values between 1, and 31622400").
MAX_WAIT_SECONDS = 31_622_400

# The runner's DurableConfig.ExecutionTimeout in template.yaml (a test holds the two equal): the
# service's maximum, 31,622,400 s (Lambda API reference, DurableConfig: "Maximum value of 31622400").
RUNNER_EXECUTION_TIMEOUT_SECONDS = 31_622_400

# Ours, not AWS's: the part of the execution timeout kept for the run's own work between waits
# (steps, their retries and back-offs, invocations of up to the runner's 120 s Timeout).
RUN_WORK_ALLOWANCE_SECONDS = 86_400

# The most a run may wait in all, as checked when automation is saved: 365 days.
MAX_TOTAL_WAIT_SECONDS = RUNNER_EXECUTION_TIMEOUT_SECONDS - RUN_WORK_ALLOWANCE_SECONDS
