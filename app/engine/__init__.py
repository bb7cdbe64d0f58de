"""The settlement engine: pure rules, frozen dataclasses in and out, no I/O.

- ``money``: Decimal money and the one rounding function;
- ``types``: the inputs and the result;
- ``validate``: checks at the boundary (region codes, resident IDs, amounts);
- ``catalog``: version lookup and line classification;
- ``policy``: location, registration, deductible, bands, annual cap;
- ``coordination``: the three coordination modes;
- ``settle``: one scheme's settlement of one bill, all rules in order.
"""

from app.engine.settle import settle

__all__ = ["settle"]
