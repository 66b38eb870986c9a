"""What AWS allows a Lambda durable execution and a DynamoDB write or read, each limit named once
with the documented value.

A flat module of numbers (no logic, no imports): the local runner enforces them
(``dealflow.local.strict``), the save-time checks compare automation against them
(``dealflow.authoring.budgets``), every transaction is measured against them
(``dealflow.store.transactions``), and a change in AWS's documentation is a one-line change here.
"""

# Lambda quotas, "Durable functions": "Maximum number of durable operations per durable execution:
# 3,000. Cannot be increased." Every step, wait and the execution itself counts; a step's retries
# count again. https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html#durable-functions-quotas
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
# (docs.aws.amazon.com/lambda/latest/api/API_DurableConfig.html): one 366-day year. The SDK's
# WaitOptions take the same maximum ("wait_seconds accepts values between 1, and 31622400").
MAX_EXECUTION_TIMEOUT_SECONDS = 31_622_400
MAX_WAIT_SECONDS = MAX_EXECUTION_TIMEOUT_SECONDS

# The runner's DurableConfig.ExecutionTimeout in template.yaml (a test holds the two equal).
RUNNER_EXECUTION_TIMEOUT_SECONDS = MAX_EXECUTION_TIMEOUT_SECONDS

# Ours, not AWS's: the part of the execution timeout kept for the run's own work between waits
# (steps, their retries and back-offs, invocations of up to the runner's 120 s Timeout).
RUN_WORK_ALLOWANCE_SECONDS = 86_400

# The most a run may wait in all, as checked when automation is saved: 365 days.
MAX_TOTAL_WAIT_SECONDS = RUNNER_EXECUTION_TIMEOUT_SECONDS - RUN_WORK_ALLOWANCE_SECONDS

# Lambda quotas, "Function timeout: 900 seconds (15 minutes)": one invocation, i.e. one replay up
# to the next wait. The runner's own Timeout in template.yaml is what a run actually gets.
MAX_INVOCATION_TIMEOUT_SECONDS = 900

# DynamoDB quotas, "Item size": "The maximum item size in DynamoDB is 400 KB, which includes both
# attribute name binary length (UTF-8 length) and attribute value lengths." Read as decimal
# kilobytes, the stricter reading. https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html
MAX_ITEM_BYTES = 400_000

# DynamoDB, "TransactWriteItems": "up to 100 action requests" and "The aggregate size of the items
# in the transaction cannot exceed 4 MB" (moto accepts more: 4.38 MiB went through).
MAX_TRANSACTION_ITEMS = 100
MAX_TRANSACTION_BYTES = 4_000_000

# DynamoDB, "Query": "A single Query operation will read up to a maximum of 1 MB of data" before
# any filter; what lies beyond is behind LastEvaluatedKey, so a query that decides something reads on.
MAX_QUERY_PAGE_BYTES = 1_000_000

# Amazon SES quotas, "Sending limits": "The maximum number of recipients per message is 50" — To,
# CC and BCC together (SendEmail, v1 and v2). https://docs.aws.amazon.com/ses/latest/dg/quotas.html
MAX_SES_RECIPIENTS_PER_MESSAGE = 50

# Amazon SNS Publish, Message: "The maximum size is 256 KB (262,144 bytes, not 262,144 characters)
# ... message attributes ... count toward the total size": UTF-8 bytes of the body plus each
# attribute's name, data type and value. https://docs.aws.amazon.com/sns/latest/api/API_Publish.html
MAX_SNS_MESSAGE_BYTES = 262_144

# API Gateway quotas, HTTP API "Integration timeout: 30 seconds" (REST APIs: 29 s by default): a
# management API request must answer within it, or the caller gets a 503 while the function runs on.
API_INTEGRATION_TIMEOUT_SECONDS = 30

# Lambda quotas, "Invocation payload (request and response): 6 MB each for synchronous invocations"
# (6,291,456 bytes): the API function's whole response, API Gateway's JSON envelope included.
MAX_SYNC_RESPONSE_BYTES = 6 * 1024 * 1024

# DynamoDB, "BatchWriteItem": "up to 25 item put or delete operations, ... up to 16 MB of data
# ... individual items ... up to 400 KB"; what it could not write comes back as UnprocessedItems,
# to be sent again "with exponential backoff". https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html
MAX_BATCH_WRITE_ITEMS = 25
MAX_BATCH_WRITE_BYTES = 16 * 1024 * 1024
