"""Cross-domain building blocks: errors, pagination, state machines."""
