"""vc.sovits5: so-vits-svc 5.0 (PlayVoice/whisper-vits-svc)."""
