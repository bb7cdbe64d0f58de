"""Request and response models of the HTTP contract (``shared/spec/api.md``).

These are never table models; table models live in ``app.db.tables``.
"""
