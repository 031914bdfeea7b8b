"""What can go wrong installing, finding or checking a model; every message names the file, URL or field."""
from __future__ import annotations


class ModelError(Exception):
    """Base of the model manager's errors."""


class ModelNotFound(ModelError, LookupError):
    """No installed model has that name."""


class DetectionError(ModelError):
    """The files do not look like any architecture haysay knows."""


class ArchiveError(ModelError):
    """A zip archive is corrupt or unsafe to unpack."""


class DownloadError(ModelError):
    """A download failed: HTTP error, cut connection, size over the cap."""


class ChecksumMismatch(DownloadError):
    """The bytes received do not match the sha256 or size that was promised."""


class CatalogueError(ModelError):
    """A catalogue could not be read or does not list the model asked for."""


class InstallError(ModelError):
    """An install could not be completed (name taken, source missing, ...)."""
