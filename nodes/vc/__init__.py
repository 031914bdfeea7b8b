"""Voice conversion: DSP engines (WORLD, Praat) and model adapters."""
