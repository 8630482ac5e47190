"""opsledger: the system of record and control plane for infrastructure automation."""
