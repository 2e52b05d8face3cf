"""Voice IVR bot for phone hotlines: SIP in, VAD + ASR + dialogue + TTS, safe hand-off to humans."""

__version__ = "0.1.0"
