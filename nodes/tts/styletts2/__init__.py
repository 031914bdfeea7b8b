"""StyleTTS 2 text-to-speech (yl4579/StyleTTS2): checkpoint reading, networks, synthesis, node."""
