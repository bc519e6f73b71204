"""Webhooks: the delivery flow, its signing secrets, the address guard and the attempts record."""
