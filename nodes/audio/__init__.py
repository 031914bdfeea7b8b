"""Audio I/O and architecture-agnostic transforms."""
