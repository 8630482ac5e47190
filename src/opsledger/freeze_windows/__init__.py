"""Freeze windows: periods during which nothing launches on the hosts they hold."""
