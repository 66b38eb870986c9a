"""DynamoDB repositories. Each takes a boto3 Table (created once per container by the caller)."""
