"""Framework-free dataset helpers: the synthetic generator, path checks, converters' logic."""
