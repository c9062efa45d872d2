"""Errors at the edges, each one sentence a person can act on."""


class FerliveError(Exception):
    """Base of every error the app reports to a person."""


class SourceError(FerliveError):
    """A camera, video, image or folder could not be opened or read."""


class CameraUnavailableError(SourceError):
    """The camera index/device does not exist or is busy."""


class ModelLoadError(FerliveError):
    """A model file is missing, corrupt, or disagrees with its card."""


class UnknownModelError(ModelLoadError):
    """No model of that name is in the models folder."""


class ProviderError(FerliveError):
    """An execution provider that was explicitly asked for did not load."""


class OutputError(FerliveError):
    """An output file (video, CSV, snapshot) cannot be written."""


class PublishError(FerliveError):
    """A live output (OSC, WebSocket, LSL) cannot start: a port in use, a bad host, or its library missing."""


class InferenceCancelled(FerliveError):
    """A model run was stopped because its result is no longer wanted (the model was switched mid-frame)."""
