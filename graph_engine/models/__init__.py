"""The model manager: installed voice models, catalogues, downloads.

Adapters need only `ModelStore.from_env().get(name)` -> InstalledModel
(name, architecture, version, path, files, manifest; `.file(role)`).
"""
from .catalogue import Catalogue, CatalogueEntry, CatalogueFile, load_catalogue, parse_catalogue
from .detect import ARCHITECTURES, Detection, detect
from .errors import (ArchiveError, CatalogueError, ChecksumMismatch, DetectionError, DownloadError, InstallError,
                     ModelError, ModelNotFound)
from .store import InstalledModel, InstallPlan, ModelFile, ModelStore, VerifyReport

__all__ = [
    "ARCHITECTURES", "ArchiveError", "Catalogue", "CatalogueEntry", "CatalogueError", "CatalogueFile",
    "ChecksumMismatch", "Detection", "DetectionError", "DownloadError", "InstallError", "InstallPlan",
    "InstalledModel", "ModelError", "ModelFile", "ModelNotFound", "ModelStore", "VerifyReport", "detect",
    "load_catalogue", "parse_catalogue",
]
