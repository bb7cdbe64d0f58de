"""Masking of resident ID numbers for logs, errors, audit records and responses."""

from __future__ import annotations

import re

#: An 18-character resident ID: 17 digits and a check character.
ID_PATTERN = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{8})(\d{3}[0-9Xx])(?![0-9A-Za-z])")


def mask_id(id_number: str) -> str:
    """First 6 and last 4 characters kept: ``511623********1234``."""
    if len(id_number) <= 10:
        return "*" * len(id_number)
    return id_number[:6] + "*" * (len(id_number) - 10) + id_number[-4:]


def mask_ids_in(text: str) -> str:
    """Mask every 18-character resident ID that appears in free text."""
    return ID_PATTERN.sub(lambda m: m.group(1) + "********" + m.group(3)[-4:], text)
