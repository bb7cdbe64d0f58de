"""What tests share: paths, the database, HTTP helpers, figures. Test modules import from here,
never from one another or from a ``conftest``."""
