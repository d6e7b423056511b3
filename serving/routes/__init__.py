"""One router per resource: score, sessions, model, health (probes and metrics)."""
