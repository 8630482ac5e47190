"""Application deployments with replicas, resources and a status history."""
