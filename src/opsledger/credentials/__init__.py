"""Secrets opsledger uses to reach a host: SSH keys, passwords, tokens."""
