"""Who is calling: the authenticated client, as the services see it (no FastAPI here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["admin", "hospital", "scheme_office"]


@dataclass(frozen=True, slots=True)
class Principal:
    client_id: str
    role: Role
    hospital_code: str | None = None
    scheme_code: str | None = None


#: The principal of ``SETTLE_ADMIN_TOKEN`` and of the command line.
ADMIN = Principal(client_id="admin", role="admin")
