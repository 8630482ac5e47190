"""People who act in opsledger, and the API keys they act with."""
