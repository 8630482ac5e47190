"""Application definitions that deployments run."""
