"""Notifications: channels, the rules that route events to them, and the outbox of deliveries."""
