"""The words the desk's pages show for the engine's codes (marked here, translated where shown)."""

from __future__ import annotations

from app.desk.i18n import N_

REASONS = {
    "not_in_catalog": N_("not in the catalog"),
    "class_c": N_("class C (not covered)"),
    "restricted_setting": N_("restricted to another care setting"),
    "restricted_level": N_("restricted to a higher hospital level"),
}
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
    "payer_types": PAYER_TYPES,
    "reasons": REASONS,
    "offsite": OFFSITE,
    "coordination": COORDINATION,
    "settings": SETTINGS,
}
