"""Importers: files from elsewhere read into domain values (``contacts_csv``), then stored by ``store/``."""
