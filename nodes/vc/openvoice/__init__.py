"""OpenVoice (myshell-ai/OpenVoice) v1/v2 tone-colour converter: network, spectrogram, file reading, node."""
