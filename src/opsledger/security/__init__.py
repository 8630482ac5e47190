"""Cryptography, passwords, tokens and access policy."""
