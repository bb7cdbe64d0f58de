"""A statement's parameters by name.

The values are ``object`` on purpose: what a parameter may hold is fixed by the type of the column
(or ``bindparam``) it binds, which checks and converts it when the statement runs; a static type per
name would only repeat the table's definition.
"""

from __future__ import annotations

from typing import TypeAlias

Params: TypeAlias = dict[str, object]
