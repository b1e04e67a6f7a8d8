"""Tongpin's wire contract, SQL migrations and shared event types."""
