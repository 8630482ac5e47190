"""Application definitions that deployments run (seed 001)."""
