"""Why a contact row was not imported.

The codes live in one place because they cross several boundaries: the CSV reader, the row
validator, the database-side checks and the reject report an operator opens in a spreadsheet.
The string values are part of the report format, so they must never be renamed.
"""

from __future__ import annotations

from enum import StrEnum


class RejectReason(StrEnum):
    MISSING_PHONE = "missing_phone"
    INVALID_NUMBER = "invalid_number"
    TOO_LONG = "too_long"
    DUPLICATE_IN_FILE = "duplicate_in_file"
    # Decided by the database side (already in the campaign, on the suppression list).
    DUPLICATE_IN_CAMPAIGN = "duplicate_in_campaign"
    SUPPRESSED = "suppressed"
    BAD_ENCODING = "bad_encoding"
    TOO_MANY_COLUMNS = "too_many_columns"
    VARIABLE_TOO_LONG = "variable_too_long"
    # Letters where digits belong: read as keypad digits only when vanity numbers are asked
    # for, since a typo read that way dials a stranger.
    LETTERS_IN_NUMBER = "letters_in_number"
