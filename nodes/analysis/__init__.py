"""Analysis nodes: pitch tracking and other measurements."""
