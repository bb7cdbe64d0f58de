"""The words the desk's pages show for the engine's codes (marked here, translated where shown)."""

from __future__ import annotations

import re

from app.desk.i18n import N_, _

REASONS = {
    "not_in_catalog": N_("not in the catalog"),
    "class_c": N_("class C (not covered)"),
    "restricted_setting": N_("restricted to another care setting"),
    "restricted_level": N_("restricted to a higher hospital level"),
    "work_injury": N_("the work injury's care (the injury fund pays)"),
    "not_injury_related": N_("not the work injury's care"),
}
ADVANCE_REASONS = {
    "employer_not_enrolled": N_("the employer did not enrol the worker"),
    "third_party": N_("a third party caused the injury"),
}
RECEIVABLE_STATUS = {
    "open": N_("open"),
    "partly_recovered": N_("partly recovered"),
    "recovered": N_("recovered"),
    "written_off": N_("written off"),
    "cancelled": N_("cancelled (its settlement was reversed)"),
}
LIABLE_KINDS = {"employer": N_("employer"), "third_party": N_("third party")}
OFFSITE = {"local": N_("local"), "in_province": N_("in province"), "out_of_province": N_("out of province")}
COORDINATION = {
    "repeat_capped": N_("pays again, capped by the bill's remainder"),
    "gap_fill": N_("fills the gap left by earlier payers"),
    "exclusive": N_("pays only when no one else paid"),
}
SETTINGS = {"inpatient": N_("inpatient"), "outpatient": N_("outpatient")}
CATEGORIES = {"drug": N_("drug"), "service": N_("service"), "material": N_("material"), "facility": N_("facility")}
ROLES = {
    "scheme_office": N_("scheme office clerk"),
    "hospital": N_("hospital billing clerk"),
    "admin": N_("administrator"),
}
PAYER_TYPES = {
    "scheme": N_("scheme fund"),
    "employer": N_("employer (liable)"),
    "external": N_("earlier payer's voucher"),
}
LABELS = {
    "advance_reasons": ADVANCE_REASONS,
    "receivable_status": RECEIVABLE_STATUS,
    "liable_kinds": LIABLE_KINDS,
    "payer_types": PAYER_TYPES,
    "reasons": REASONS,
    "offsite": OFFSITE,
    "coordination": COORDINATION,
    "settings": SETTINGS,
}

#: The fields of the desk's forms, as the summary of a page's problems names them.
FIELDS = {
    "hospital_code": N_("Hospital code"),
    "bill_no": N_("Bill number"),
    "id_number": N_("Resident ID number"),
    "period": N_("Month (YYYY-MM)"),
    "date": N_("Day (YYYY-MM-DD)"),
    "payer": N_("Payer"),
    "voucher_no": N_("Voucher number"),
    "amount": N_("Amount (yuan)"),
    "vouchers": N_("The worker's vouchers"),
    "advance_name": N_("Liable third party"),
    "advance_code": N_("Its unified social credit code"),
    "received_on": N_("Received on (YYYY-MM-DD)"),
    "reference": N_("Payment reference"),
    "reason": N_("Reason"),
    "current_password": N_("Current password"),
    "new_password": N_("New password (at least 12 characters)"),
    "new_password_again": N_("The new password again"),
}
_ROW_FIELD = re.compile(r"(?P<field>[a-z_]+)_(?P<row>[0-9]+)")


def field_label(name: str) -> str:
    """``amount_0`` -> "Row 1, amount (yuan)"; ``bill_no`` -> "Bill number"."""
    m = _ROW_FIELD.fullmatch(name)
    if m is not None and m["field"] in FIELDS:
        return _("Row %(row)s, %(field)s") % {"row": int(m["row"]) + 1, "field": _(FIELDS[m["field"]])}
    return _(FIELDS[name]) if name in FIELDS else name
