"""The inbox's routes: one module per part of the site."""
