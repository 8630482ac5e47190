"""Playbook runs against hosts and every line they print."""
