"""Credentials for external services (a cloud's access key, a registry token), encrypted
and owned by a user."""
