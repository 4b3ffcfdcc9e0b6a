"""R065's storage: items with a content type, tags and an expiry, searched through indexes.

The public names are exported by :mod:`pepperflow`; see docs/storage.md.
"""
