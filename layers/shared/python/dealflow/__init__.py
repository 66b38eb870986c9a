"""Dealflow: the automation engine behind a CRM's sales pipelines.

Domain logic only: nothing here knows about Lambda events. Handlers in ``functions/`` parse
events, call into this package and shape replies.
"""
