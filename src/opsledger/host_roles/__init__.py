"""Infrastructure roles a host plays (frontend, redis, …), not a user's RBAC role."""
