"""Content encoders (HuBERT-base / ContentVec) for the voice-conversion adapters."""
