"""Media storage: one ``BlobStore`` interface (``base.py``), backends chosen by ``WAHUB_STORAGE_URL``: OpenDAL's
(``opendal_store.py``), SharePoint through Microsoft Graph (``sharepoint.py``) and Google Drive through the Drive
API (``gdrive.py``)."""

from __future__ import annotations

from wahub.storage import gdrive, opendal_store, sharepoint
from wahub.storage.base import BlobStore


def from_url(url: str) -> BlobStore:
    """The store ``url`` names; ``errors.InvalidInput`` says what is wrong with one that cannot work."""
    if url.startswith("sharepoint://"):
        return sharepoint.from_url(url)
    if url.startswith("gdrive://"):
        return gdrive.from_url(url)
    return opendal_store.from_url(url)
