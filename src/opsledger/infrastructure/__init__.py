"""Cloud infrastructure definitions (seed 001)."""
