"""The host inventory: machines opsledger runs playbooks against."""
