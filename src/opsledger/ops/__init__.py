"""Operations on the whole database: key rotation, retention, backup and restore,
partitions, and the health, readiness and metrics endpoints."""
