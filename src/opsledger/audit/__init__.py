"""The tamper-evident audit trail: who changed what, hash-chained and append-only."""
