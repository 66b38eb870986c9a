"""AWS implementations of the ports: SES, SNS, Lambda durable invoke and steps (``adapters``),
webhook secrets in SSM (``secrets``); the functions' configuration, one settings model (``settings``)."""
