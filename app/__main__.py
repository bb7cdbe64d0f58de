"""Command line: ``python -m app {migrate,load-sample,create-user,sample-users,serve,openapi,example,check-ledger,
settle-batch}``."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable

from app.settings import get_settings


def cmd_migrate(args: argparse.Namespace) -> int:
    from app.db.migrate import upgrade

    upgrade(get_settings().database_url)
    print("migrations applied", file=sys.stderr)
    return 0


def cmd_load_sample(args: argparse.Namespace) -> int:
    from app.sample.loader import load_sample

    counts = load_sample()
    print("sample data loaded: " + ", ".join(f"{v} {k}" for k, v in counts.items()), file=sys.stderr)
    return 0


def one_stop_example(base: str, token: str | None) -> str:
    """How to settle bill 3 one-stop with one claim (rules v2.3)."""
    bill = "app/sample/v2/bill-3.json"
    return f"""  Settle bill 3 one-stop (county scheme, then its serious-illness tier, then medical assistance):
    curl -s -X POST {base}/v1/claims -H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' \\
      -d "{{\\"bill\\": $(cat {bill}), \\"schemes\\": [\\"NRCMS-511623\\", \\"SI-511623\\", \\"MA-511623\\"]}}"
"""


def large_amount_example(base: str, token: str | None) -> str:
    """How to settle bill 6 with its large-amount subsidy above the basic fund's cap (rules v3.2)."""
    bill = "app/sample/v3/bill-6.json"
    return f"""  Settle bill 6 past the employee fund's cap (UEBMI-511600, then its large-amount subsidy):
    curl -s -X POST {base}/v1/claims -H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' \\
      -d "{{\\"bill\\": $(cat {bill}), \\"schemes\\": [\\"UEBMI-511600\\", \\"LA-511600\\"]}}"
"""


#: ``make run``'s sample people: a clerk of the NRCMS-511623 office and a billing clerk of the
#: sample bill's hospital.
SAMPLE_USERS = (
    ("nrcms-clerk", "Li Ming (NRCMS-511623 office)", "scheme_office", None, "NRCMS-511623"),
    ("hospital-clerk", "Zhao Hong (H511623001 billing)", "hospital", "H511623001", None),
)


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise SystemExit("the passwords differ")
    return first


def _create_user(body: dict[str, object], *, if_missing: bool) -> tuple[int, str]:
    from pydantic import ValidationError

    from app.db.tx import write_transaction
    from app.errors import Conflict, DomainError
    from app.schemas.users import UserCreate
    from app.services import users

    try:
        user = UserCreate.model_validate(body)
    except ValidationError as exc:
        return 2, "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'user'}: {e['msg']}" for e in exc.errors())
    try:
        row = write_transaction(lambda w: users.create(w.session, body=user), operation="create_user")
    except Conflict as exc:
        return (0 if if_missing else 1), exc.detail
    except DomainError as exc:
        return 1, exc.detail
    return 0, f"created user {row.username} ({row.role}), id {row.id}"


def cmd_create_user(args: argparse.Namespace) -> int:
    """Create a person who signs in to the desk.  The password is read from standard input
    (``--password-stdin``, or when it is not a terminal) or asked for twice, never an argument."""
    body: dict[str, object] = {
        "username": args.username,
        "name": args.name,
        "role": args.role,
        "hospital_code": args.hospital_code,
        "scheme_code": args.scheme_code,
        "password": _read_password(args),
    }
    code, message = _create_user(body, if_missing=args.if_missing)
    print(message, file=sys.stderr)
    return code


def cmd_sample_users(args: argparse.Namespace) -> int:
    """``make run``: the sample clerks, all with the password read from standard input."""
    password = _read_password(args)
    for username, name, role, hospital, scheme in SAMPLE_USERS:
        body: dict[str, object] = {
            "username": username,
            "name": name,
            "role": role,
            "hospital_code": hospital,
            "scheme_code": scheme,
            "password": password,
        }
        code, message = _create_user(body, if_missing=True)
        print(message, file=sys.stderr)
        if code:
            return code
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = get_settings()
    host = args.host or settings.host
    port = args.port or settings.port
    workers = args.workers or settings.workers
    token = settings.admin_token.get_secret_value() if settings.admin_token else None
    base = f"http://{host}:{port}"
    bill = "app/sample/bill-1.json"
    desk = "\n".join(
        f"    sign in as {username!r} ({name}), password {args.desk_password!r}"
        for username, name, *_ in SAMPLE_USERS
        if args.desk_password
    )
    if args.banner:
        # Only for `make run` on a developer's machine: it shows the admin token.
        print(
            f"""
Serving on {base}  (database: {settings.database_url.split("@")[-1]}, workers: {workers})
  API docs:     {base}/docs
  The desk:     {base}/desk/
{desk}
  Submit the sample bill for the desk's clerk to find (ZY20260302017) and settle:
    curl -s -X POST {base}/v1/bills -H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' -d @{bill}
  Admin token:  {token or "(none: set SETTLE_ADMIN_TOKEN)"}
  Submit and settle the sample bill (NRCMS first, then UEBMI):
    curl -s -X POST {base}/v1/claims -H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' \\
      -d "{{\\"bill\\": $(cat {bill}), \\"schemes\\": [\\"NRCMS-511623\\", \\"UEBMI-321100\\"]}}"
{one_stop_example(base, token)}{large_amount_example(base, token)}""",
            file=sys.stderr,
            flush=True,
        )
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Each worker is a process: metrics are shared through files so /metrics sums them all.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="settle-metrics-")
    uvicorn.run(
        "app.main:app",
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level.lower(),
        access_log=False,
        timeout_graceful_shutdown=30,
    )
    return 0


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
                policy=ref.engine_policy(code, bill.policy_year),
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


def cmd_check_ledger(args: argparse.Namespace) -> int:
    """The ledger's invariants (``app.ledger.invariants``) against the configured database: exit 0
    when they all hold, 1 with each violation (ID numbers masked) when not."""
    from app.db.session import get_engine
    from app.ledger.invariants import check_database
    from app.privacy import mask_ids_in

    report = check_database(get_engine())
    for violation in report.violations:
        print(mask_ids_in(violation))
    print(f"{report.checks} facts checked, {len(report.violations)} violations", file=sys.stderr)
    return 1 if report.violations else 0


def cmd_openapi(args: argparse.Namespace) -> int:
    from app.main import app

    json.dump(app.openapi(), sys.stdout, indent=2, ensure_ascii=False, sort_keys=False)
    sys.stdout.write("\n")
    return 0


def cmd_settle_batch(args: argparse.Namespace) -> int:
    from app.cli.settle_batch import command

    return command(
        args.file, url=args.url, scheme=args.scheme, dry_run=args.dry_run, out=args.out, token_file=args.token_file
    )


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "settle-batch": cmd_settle_batch,
    "migrate": cmd_migrate,
    "load-sample": cmd_load_sample,
    "create-user": cmd_create_user,
    "sample-users": cmd_sample_users,
    "serve": cmd_serve,
    "openapi": cmd_openapi,
    "check-ledger": cmd_check_ledger,
    "example": cmd_example,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply the database migrations")
    sub.add_parser("load-sample", help="load the sample schemes, catalogs, policies and members")
    serve = sub.add_parser("serve", help="serve the API with uvicorn")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int)
    serve.add_argument("--banner", action="store_true", help="print how to call the service, with the admin token")
    serve.add_argument("--desk-password", help="with --banner: the sample users' password, to print")
    create = sub.add_parser("create-user", help="create a person who signs in to the desk")
    create.add_argument("--username", required=True)
    create.add_argument("--name", required=True, help="the name shown on the desk and on split sheets")
    create.add_argument("--role", required=True, choices=["admin", "hospital", "scheme_office"])
    create.add_argument("--hospital-code")
    create.add_argument("--scheme-code")
    create.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    create.add_argument("--if-missing", action="store_true", help="succeed without change if the user exists")
    sample = sub.add_parser("sample-users", help="create make run's sample clerks (password from stdin)")
    sample.add_argument("--password-stdin", action="store_true")
    sub.add_parser("openapi", help="print the OpenAPI document")
    sub.add_parser("check-ledger", help="check the ledger's invariants in the database (exit 1 on a violation)")
    sub.add_parser("example", help="print the split of the sample bill (pure engine, no database)")
    batch = sub.add_parser(
        "settle-batch",
        help="settle a CSV file of returned bills over the API (token: SETTLE_TOKEN or --token-file)",
        description="Each row is its own settlement with its own Idempotency-Key (from the file's content "
        "and the row's line): running it again on the same file never pays a row twice.",
    )
    batch.add_argument("file", help="CSV: hospital_code,bill_no,vouchers (payer|voucher number|amount;...)")
    batch.add_argument("--scheme", required=True, help="the scheme to settle under (the token's office's)")
    batch.add_argument("--url", default="http://127.0.0.1:8000", help="the service (default: %(default)s)")
    batch.add_argument("--token-file", help="a file holding the client token (else SETTLE_TOKEN)")
    batch.add_argument("--out", help="write the result CSV here (default: standard output)")
    batch.add_argument("--dry-run", action="store_true", help="preview every row, pay nothing")
    args = parser.parse_args(argv)
    return COMMANDS[args.command](args)


if __name__ == "__main__":
    raise SystemExit(main())
