"""Operations on the whole database: key rotation (later: retention, backup, partitions)."""
