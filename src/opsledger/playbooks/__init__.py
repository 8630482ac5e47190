"""Ansible playbooks that opsledger may run, pinned by content hash."""
