"""Command line: ``python -m app example`` prints the split of the sample bill."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable


def cmd_example(args: argparse.Namespace) -> int:
    """Settle the sample bill under NRCMS then UEBMI with the pure engine and print the split."""
    from decimal import Decimal

    from app.engine import settle
    from app.engine.types import SettlementInput
    from app.sample import SAMPLE_DIR, load_bill, load_reference

    ref = load_reference()
    bill = load_bill(SAMPLE_DIR / "bill-1.json").to_engine()
    prior = Decimal("0.00")
    print(f"bill {bill.bill_no}: medical total {bill.medical_total}")
    for code in ("NRCMS-511623", "UEBMI-321100"):
        result = settle(
            SettlementInput(
                bill=bill,
                scheme=ref.engine_scheme(code),
                member=ref.engine_member(code, bill.patient_id_number),
                catalogs=ref.engine_catalogs(code),
                policy=ref.engine_policy(code, bill.discharge_date.year),
                prior_payments=prior,
            )
        )
        prior += result.fund_payment
        print(
            f"  {code:14} {result.offsite:16} in scope {result.in_scope:>9}  benefit {result.benefit_after_cap:>9}"
            f"  pays {result.fund_payment:>9}  patient owes {result.patient_responsibility:>9}",
            file=sys.stdout,
        )
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"example": cmd_example}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("example", help="print the split of the sample bill (pure engine)")
    args = parser.parse_args(argv)
    return COMMANDS[args.command](args)


if __name__ == "__main__":
    raise SystemExit(main())
