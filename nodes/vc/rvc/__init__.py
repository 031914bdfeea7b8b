"""RVC (Retrieval-based Voice Conversion) v1/v2 adapter: architecture, checkpoint reading, pipeline, node."""
