from __future__ import annotations

import pytest

from campaign_engine.contacts.columns import (
    IDENTIFIER,
    AgentCheck,
    ColumnError,
    ColumnMapping,
    check_against_agent,
    detect_phone_column,
    normalize_header,
)

# The first columns of a Google Contacts "Google CSV" export, in order.
GOOGLE_CONTACTS = [
    "First Name",
    "Middle Name",
    "Last Name",
    "Labels",
    "E-mail 1 - Label",
    "E-mail 1 - Value",
    "Phone 1 - Label",
    "Phone 1 - Value",
    "Phone 2 - Label",
    "Phone 2 - Value",
]
# Some of Outlook's contact export columns.
OUTLOOK = ["First Name", "Last Name", "Business Phone", "Home Phone", "Mobile Phone", "Notes"]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("  Phone Number ", "phone_number"),
        ("Phone 1 - Value", "phone_1_value"),
        ("E-mail.Address", "e_mail_address"),
        ("First  Name", "first_name"),
        ("customer_ID", "customer_id"),
        ("Teléfono", "telefono"),
        ("Amount ($)", "amount"),
        ("1st Visit", "_1st_visit"),
        ("2024", "_2024"),
        ("__private__", "private"),
        ("電話", ""),
    ],
)
def test_normalize_header(header: str, expected: str) -> None:
    assert normalize_header(header) == expected
    assert expected == "" or IDENTIFIER.fullmatch(expected)


def test_detects_odd_case_padded_phone_number_header() -> None:
    assert detect_phone_column(["Name", "  Phone Number "]) == 1


def test_detects_google_contacts_phone_1_value_not_its_label() -> None:
    assert GOOGLE_CONTACTS[detect_phone_column(GOOGLE_CONTACTS) or 0] == "Phone 1 - Value"


def test_detects_outlook_mobile_phone_before_business_and_home() -> None:
    assert OUTLOOK[detect_phone_column(OUTLOOK) or 0] == "Mobile Phone"


def test_exact_name_priority_beats_column_order() -> None:
    assert detect_phone_column(["Telephone", "Mobile", "Phone"]) == 2
    assert detect_phone_column(["Number", "MSISDN"]) == 1


@pytest.mark.parametrize("name", ["Phone", "MOBILE", "msisdn", "Tel", "WhatsApp", "Cell", "Number"])
def test_detects_common_names(name: str) -> None:
    assert detect_phone_column(["id", name, "notes"]) == 1


def test_single_column_merely_containing_a_phone_word_is_detected() -> None:
    assert detect_phone_column(["Name", "Customer Mobile", "Phone Type"]) == 1


def test_several_candidate_columns_without_an_exact_name_are_ambiguous() -> None:
    assert detect_phone_column(["Name", "Work Phone", "Personal Phone"]) is None
    assert detect_phone_column(["Name", "Email"]) is None


def test_underscore_columns_are_never_the_phone() -> None:
    assert detect_phone_column(["_phone", "name"]) is None


def test_every_other_column_becomes_a_normalized_variable() -> None:
    mapping = ColumnMapping.build(["  Phone Number ", "First Name", "City"])
    assert mapping.phone_column == "  Phone Number "
    assert mapping.variables == ((1, "first_name"), (2, "city"))


def test_explicit_phone_column_overrides_detection() -> None:
    mapping = ColumnMapping.build(["phone", "alt"], phone_column="alt")
    assert mapping.phone_index == 1
    assert mapping.variable_names == ("phone",)


def test_option_names_also_match_by_normalized_header() -> None:
    mapping = ColumnMapping.build(
        ["Phone Number", "First Name", "Notes"],
        phone_column="phone number",
        mapping={"first_name": "name"},
        exclude={"NOTES"},
    )
    assert mapping.variables == ((1, "name"),)


def test_missing_phone_column_error_names_it_and_lists_headers() -> None:
    with pytest.raises(ColumnError) as caught:
        ColumnMapping.build(["Name", "Mobile"], phone_column="Cell")
    message = str(caught.value)
    assert "'Cell'" in message
    assert "'Name', 'Mobile'" in message


def test_undetectable_phone_column_error_lists_headers() -> None:
    with pytest.raises(ColumnError, match="'Name', 'Email'"):
        ColumnMapping.build(["Name", "Email"])


def test_map_renames_a_column_to_a_variable() -> None:
    mapping = ColumnMapping.build(["phone", "Cust Name"], mapping={"Cust Name": "customer"})
    assert mapping.variables == ((1, "customer"),)


def test_map_of_an_unknown_column_is_an_error() -> None:
    with pytest.raises(ColumnError, match="mapped column 'Surname' is not in the file"):
        ColumnMapping.build(["phone", "name"], mapping={"Surname": "last"})


@pytest.mark.parametrize("variable", ["first name", "1st", "name-x", ""])
def test_map_to_an_invalid_variable_name_is_an_error(variable: str) -> None:
    with pytest.raises(ColumnError, match="letters, digits and underscores"):
        ColumnMapping.build(["phone", "name"], mapping={"name": variable})


def test_excluded_columns_are_not_variables() -> None:
    mapping = ColumnMapping.build(["phone", "name", "ssn"], exclude={"ssn"})
    assert mapping.variable_names == ("name",)
    assert mapping.ignored == ("ssn",)


def test_excluding_an_unknown_column_or_the_phone_is_an_error() -> None:
    with pytest.raises(ColumnError, match="excluded column 'x'"):
        ColumnMapping.build(["phone", "name"], exclude={"x"})
    with pytest.raises(ColumnError, match="phone column"):
        ColumnMapping.build(["phone", "name"], exclude={"phone"})


def test_duplicate_variable_names_after_normalization_are_an_error() -> None:
    with pytest.raises(ColumnError, match=r"'First Name' and 'first-name'.*'first_name'"):
        ColumnMapping.build(["phone", "First Name", "first-name"])


def test_duplicate_resolved_by_excluding_or_mapping_one() -> None:
    headers = ["phone", "First Name", "first-name"]
    assert ColumnMapping.build(headers, exclude={"first-name"}).variable_names == ("first_name",)
    renamed = ColumnMapping.build(headers, mapping={"first-name": "nickname"})
    assert renamed.variable_names == ("first_name", "nickname")


def test_identical_headers_are_an_error_even_if_excluded() -> None:
    with pytest.raises(ColumnError, match="appears twice"):
        ColumnMapping.build(["phone", "name", "name"], exclude={"name"})


def test_header_with_no_usable_name_must_be_mapped_or_excluded() -> None:
    with pytest.raises(ColumnError, match="'電話'"):
        ColumnMapping.build(["phone", "電話"])
    assert ColumnMapping.build(["phone", "電話"], mapping={"電話": "alt"}).variable_names == (
        "alt",
    )


def test_underscore_columns_are_ignored_so_reject_reports_reimport() -> None:
    mapping = ColumnMapping.build(["phone", "name", "_line", "_reason", "_detail"])
    assert mapping.variable_names == ("name",)
    assert mapping.ignored == ("_line", "_reason", "_detail")


def test_underscore_column_can_still_be_mapped_explicitly() -> None:
    mapping = ColumnMapping.build(["phone", "_crm_id"], mapping={"_crm_id": "crm_id"})
    assert mapping.variable_names == ("crm_id",)


def test_blank_header_columns_are_ignored() -> None:
    mapping = ColumnMapping.build(["phone", "", "name"])
    assert mapping.variables == ((2, "name"),)


def test_agent_check_reports_missing_and_undeclared() -> None:
    mapping = ColumnMapping.build(["phone", "name", "plan"])
    check = check_against_agent(mapping, ["name", "due_date"])
    assert check == AgentCheck(missing=("due_date",), undeclared=("plan",))
    assert not check.ok


def test_agent_check_ok_when_agent_declares_nothing_or_everything() -> None:
    mapping = ColumnMapping.build(["phone", "name"])
    assert check_against_agent(mapping, None).ok
    assert check_against_agent(mapping, ["name"]).ok
    assert check_against_agent(mapping, []).undeclared == ("name",)


def test_a_kept_column_leaves_the_variables_and_is_stored_under_kept() -> None:
    from campaign_engine.contacts.columns import KEPT_PREFIX, ColumnMapping, is_kept

    mapping = ColumnMapping.build(["Phone", "Name", "CRM Id", "_note"]).keeping(["crm id", "_note"])
    assert mapping.call_variables == ("name",)
    assert mapping.kept_columns == ("CRM Id", "_note")
    assert dict(mapping.variables)[2] == f"{KEPT_PREFIX}crm_id"
    assert mapping.ignored == ()
    assert is_kept("kept:crm_id") and not is_kept("crm_id")


def test_the_phone_column_cannot_be_kept_aside() -> None:
    from campaign_engine.contacts.columns import ColumnError, ColumnMapping

    with pytest.raises(ColumnError, match="cannot keep 'Phone' aside: it is the phone column"):
        ColumnMapping.build(["Phone", "Name"]).keeping(["Phone"])
    with pytest.raises(ColumnError, match="kept column 'Nope' is not in the file"):
        ColumnMapping.build(["Phone", "Name"]).keeping(["Nope"])
