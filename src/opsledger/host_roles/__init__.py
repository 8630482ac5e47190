"""Infrastructure roles a host plays (seed 000's InfraRole), not a user's RBAC role."""
