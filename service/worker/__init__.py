"""``rolefit worker``: claims outbox deliveries and sends signed webhooks (see main.py)."""
