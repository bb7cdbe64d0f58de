"""The settlement engine: pure rules, frozen dataclasses in and out, no I/O.

- ``money``: Decimal money and the one rounding function;
- ``types``: the inputs and the result;
- ``validate``: checks at the boundary (region codes, resident IDs, amounts);
- ``catalog``: version lookup and line classification;
- ``policy``: location, registration, deductible, bands, annual cap;
- ``coordination``: the three coordination modes (on a mixed bill, the same part's payments);
- ``eligibility``: who may settle which bill, and which part of a mixed bill;
- ``settle``: one scheme's settlement of one bill, all rules in order;
- ``tier``: a supplementary tier's settlement from its basis;
- ``large_amount``: the large-amount subsidy's over-cap walk and settlement;
- ``receivables``: a fund's receivable after an advance, and its changes;
- ``reconciliation``: a hospital's figures checked against ours.
"""

from app.engine.settle import settle

__all__ = ["settle"]
