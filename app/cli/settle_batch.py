"""``python -m app settle-batch FILE``: a file of returned bills settled over the HTTP API, with a
client token, as the desk's batch does it (:mod:`app.desk.batch_file` reads the same file).

Each row is its own settlement request, with its own ``Idempotency-Key`` made from the file's
content and the row's line (``settle-batch:<sha256 of the file>:<line>``): running the command
again on the same file (after a crash, a lost connection, a Ctrl-C) answers the rows already
settled with their first answer and settles only the others, never paying a row twice.  A row
that is refused is reported and the next goes on.  ``--dry-run`` previews every row and pays
nothing.  The progress bar goes to standard error; the result (one CSV line per row of the file)
to ``--out`` or standard output.  The token comes from ``SETTLE_TOKEN`` or ``--token-file``, never
from the command line (where ``ps`` would show it).
"""

from __future__ import annotations

import csv
import hashlib
import os
import sys
from dataclasses import dataclass
from typing import IO, Any

import httpx

from app.desk import i18n
from app.desk.batch_file import FileRow, read

COLUMNS = ["line", "hospital_code", "bill_no", "vouchers", "state", "fund_payment", "settlement_id", "message"]
BAR = 30


@dataclass
class Outcome:
    row: FileRow
    state: str  # previewed | settled | refused
    fund_payment: str = ""
    settlement_id: str = ""
    message: str = ""


def _problem(r: httpx.Response) -> str:
    try:
        body = r.json()
    except ValueError:
        return f"HTTP {r.status_code}"
    if not isinstance(body, dict):
        return f"HTTP {r.status_code}"
    said = [str(body.get("title") or ""), str(body.get("detail") or "")]
    return f"{r.status_code} {body.get('type', '').rsplit('/', 1)[-1]}: " + " ".join(s for s in said if s)


def _bill_id(client: httpx.Client, row: FileRow) -> str | None:
    for code in dict.fromkeys((row.hospital_code, row.hospital_code.upper())):
        r = client.get("/v1/bills", params={"hospital_code": code, "bill_no": row.bill_no, "limit": 1})
        r.raise_for_status()
        items = r.json()["items"]
        if items:
            return str(items[0]["bill_id"])
    return None


def settle_row(client: httpx.Client, row: FileRow, *, scheme: str, key: str, dry_run: bool) -> Outcome:
    if row.errors:
        return Outcome(row, "refused", message=" ".join(row.errors))
    bill_id = _bill_id(client, row)
    if bill_id is None:
        return Outcome(row, "refused", message=f"no bill {row.bill_no} of hospital {row.hospital_code} is open to you")
    body: dict[str, Any] = {
        "scheme_code": scheme,
        "dry_run": dry_run,
        "external_payments": [p.model_dump(mode="json") for p in row.payments],
    }
    headers = {} if dry_run else {"Idempotency-Key": key}
    r = client.post(f"/v1/bills/{bill_id}/settlements", json=body, headers=headers)
    if r.status_code not in (200, 201):
        return Outcome(row, "refused", message=_problem(r))
    answer = r.json()
    return Outcome(
        row,
        "previewed" if dry_run else "settled",
        fund_payment=str(answer["fund_payment"]),
        settlement_id=str(answer["settlement_id"] or ""),
    )


def _bar(out: IO[str], done: int, total: int, counts: dict[str, int]) -> None:
    filled = BAR * done // max(total, 1)
    said = ", ".join(f"{n} {state}" for state, n in counts.items() if n)
    out.write(f"\r[{'#' * filled}{'.' * (BAR - filled)}] {done}/{total} {said}".ljust(BAR + 40))
    out.flush()


def run(data: bytes, client: httpx.Client, *, scheme: str, dry_run: bool, result: IO[str], progress: IO[str]) -> int:
    """Settle (or preview) every row of the file; 0 when every row went through, 1 when one was
    refused, 2 when the file cannot be read."""
    parsed = read(data)
    if parsed.errors:
        for e in parsed.errors:
            progress.write(e + "\n")
        return 2
    ask = client.get("/v1/bills", params={"limit": 1})
    if ask.status_code in (401, 403):
        progress.write(f"the service refuses this token: {_problem(ask)}\n")
        return 2
    digest = hashlib.sha256(data).hexdigest()[:32]
    writer = csv.writer(result, lineterminator="\n")
    writer.writerow(COLUMNS)
    counts = {"settled": 0, "previewed": 0, "refused": 0}
    total = len(parsed.rows)
    _bar(progress, 0, total, counts)
    for done, row in enumerate(parsed.rows, 1):
        key = f"settle-batch:{digest}:{row.line}"
        try:
            outcome = settle_row(client, row, scheme=scheme, key=key, dry_run=dry_run)
        except httpx.HTTPError as exc:  # the service did not answer this row: the next goes on
            outcome = Outcome(row, "refused", message=f"no answer ({exc.__class__.__name__}); run again to retry")
        counts[outcome.state] += 1
        writer.writerow(
            [
                row.line,
                row.hospital_code,
                row.bill_no,
                row.vouchers,
                outcome.state,
                outcome.fund_payment,
                outcome.settlement_id,
                outcome.message,
            ]
        )
        result.flush()
        _bar(progress, done, total, counts)
    progress.write("\n")
    return 1 if counts["refused"] else 0


def command(path: str, *, url: str, scheme: str, dry_run: bool, out: str | None, token_file: str | None) -> int:
    token = os.environ.get("SETTLE_TOKEN", "")
    if token_file:
        with open(token_file, encoding="utf-8") as f:
            token = f.read().strip()
    if not token:
        print("settle-batch needs a client token: SETTLE_TOKEN, or --token-file", file=sys.stderr)
        return 2
    i18n.set_lang("zh_CN" if os.environ.get("LANG", "").startswith("zh") else "en")
    with open(path, "rb") as f:
        data = f.read()
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60.0) as client:
        if out is None:
            return run(data, client, scheme=scheme, dry_run=dry_run, result=sys.stdout, progress=sys.stderr)
        # Written line by line: a run cut short leaves the rows done so far.
        with open(out, "w", encoding="utf-8", newline="") as f:
            return run(data, client, scheme=scheme, dry_run=dry_run, result=f, progress=sys.stderr)
