"""Monitoring alerts raised by scripts or an Alertmanager webhook."""
