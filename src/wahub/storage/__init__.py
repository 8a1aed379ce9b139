"""Media storage: one ``BlobStore`` interface (``base.py``), backends chosen by ``WAHUB_STORAGE_URL``."""
