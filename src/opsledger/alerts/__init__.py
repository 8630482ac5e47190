"""Monitoring alerts (seed 001) raised by scripts or an Alertmanager webhook."""
