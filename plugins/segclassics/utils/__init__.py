"""Small shared helpers (checkpoint loading with clear errors, ...)."""
