"""Sources: generated signals and literal values."""
