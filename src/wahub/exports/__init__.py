"""Conversations exported out of the archive: ``wahub export`` and ``GET /api/v1/conversations/{id}/export``.

``archive.py`` reads a conversation page by page, oldest first; ``render.py`` and ``page.py`` turn each page into
WhatsApp's own text layout, JSON or an offline HTML page; ``bundle.py`` writes the result (a zip with the media
files when there are any) to a file, and every conversation of an account into the storage backend.
"""
