"""Errors that reach a user: each carries a one-line message that says what to do."""


class IvrError(Exception):
    """An error the CLI prints as one line (no traceback) and exits with status 2."""


class ModelMissingError(IvrError):
    """A model's weights are not installed; the message names the package and the install command."""


class AudioInputError(IvrError):
    """An audio file cannot be read or is not usable as caller audio."""


class DialplanError(IvrError):
    """A dialplan file is invalid; the message lists file:line problems."""


class EngineTimeout(IvrError):
    """A model engine (ASR, TTS, LLM) did not answer in time."""
