"""Credentials for external services (seed 001's encrypted "API keys"), owned by a user."""
