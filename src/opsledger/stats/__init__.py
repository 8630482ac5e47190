"""Counts across the inventory, computed by the database with grouped queries."""
