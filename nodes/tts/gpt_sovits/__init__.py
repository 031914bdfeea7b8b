"""GPT-SoVITS v2 text-to-speech (RVC-Boss/GPT-SoVITS): checkpoints, networks, front end, synthesis, node."""
