"""Inbound triggers: signed webhooks that launch a job template, and their deliveries."""
