"""Request and response bodies of the risk API (kept in separate modules)."""
