"""Local development harness: moto provisioned from template.yaml, the real DynamoDB stream pumped
into the dispatcher, runner executions in-process through the durable testing SDK, and a clock
you advance by hand. Import ``LocalStack`` from here in your own tests."""

from dealflow.local.stack import DrainReport, Email, LocalStack, Notification

__all__ = ["DrainReport", "Email", "LocalStack", "Notification"]
