"""API keys: long-lived credentials a user creates for scripts, shown once, stored hashed."""
