"""Runs: one launch of a playbook across many hosts, a job per host, in batches."""
