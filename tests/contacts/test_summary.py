"""Import options (validation, what a saved source keeps) and the summary's JSON form."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from campaign_engine.contacts.summary import (
    DEFAULT_CHUNK_SIZE,
    ImportOptions,
    ImportRefused,
    ImportSummary,
)


def test_default_options_read_everything_with_the_backends_own_batch_size() -> None:
    options = ImportOptions()
    assert options.batch_size is None
    assert options.chunk_size == DEFAULT_CHUNK_SIZE == 1000
    assert options.workers is None
    assert (options.dry_run, options.drop_undeclared) == (False, False)


@pytest.mark.parametrize(("batch_size", "chunk_size"), [(0, 10), (-1, 10), (None, 0), (5, -3)])
def test_options_refuse_a_batch_or_chunk_size_below_one(
    batch_size: int | None, chunk_size: int
) -> None:
    with pytest.raises(ValueError, match="batch and chunk sizes must be positive"):
        ImportOptions(batch_size=batch_size, chunk_size=chunk_size)


def test_options_accept_the_smallest_sizes() -> None:
    options = ImportOptions(batch_size=1, chunk_size=1)
    assert (options.batch_size, options.chunk_size) == (1, 1)


def test_saved_keeps_how_rows_are_read_as_plain_json() -> None:
    options = ImportOptions(
        phone_column="Mobile",
        mapping={"Full Name": "name"},
        exclude=("Notes", "Owner"),
        default_region="IN",
        batch_size=50,
        dry_run=True,
        engine_variables=("ce_attempt_id",),
        drop_undeclared=True,
        keep=("CRM Id",),
        workers=4,
        chunk_size=10,
        encoding="latin-1",
        delimiter=";",
    )
    saved = options.saved()
    assert saved == {
        "phone_column": "Mobile",
        "mapping": {"Full Name": "name"},
        "exclude": ["Notes", "Owner"],
        "default_region": "IN",
        "engine_variables": ["ce_attempt_id"],
        "drop_undeclared": True,
        "vanity_numbers": False,
        "keep": ["CRM Id"],
    }
    assert json.loads(json.dumps(saved)) == saved
    assert ImportOptions.from_saved(saved).keep == ("CRM Id",)


def test_saved_mapping_is_a_copy_not_the_options_own_dict() -> None:
    options = ImportOptions(mapping={"a": "b"})
    options.saved()["mapping"]["c"] = "d"
    assert options.mapping == {"a": "b"}


def test_from_saved_round_trips_what_saved_keeps() -> None:
    options = ImportOptions(
        phone_column="Phone",
        mapping={"First": "first_name"},
        exclude=("Internal",),
        default_region="US",
        engine_variables=("ce_attempt_id",),
        drop_undeclared=True,
        vanity_numbers=True,
    )
    assert ImportOptions.from_saved(options.saved()) == options


def test_from_saved_fills_defaults_for_missing_or_null_keys() -> None:
    restored = ImportOptions.from_saved({"mapping": None, "exclude": None})
    assert restored == ImportOptions()
    assert restored.exclude == () and restored.mapping == {}


def test_from_saved_ignores_run_time_options_it_never_kept() -> None:
    restored = ImportOptions.from_saved({"phone_column": "Tel", "dry_run": True, "workers": 3})
    assert restored.phone_column == "Tel"
    assert (restored.dry_run, restored.workers) == (False, None)


def test_summary_to_dict_totals_rejections_and_keeps_them_by_reason() -> None:
    summary = ImportSummary(
        file="contacts.csv",
        encoding="utf-8",
        delimiter=",",
        phone_column="phone",
        variables=("name", "city"),
        rows=10,
        imported=7,
        rejected=Counter({"invalid_number": 2, "duplicate_in_file": 1}),
    )
    assert summary.to_dict() == {
        "file": "contacts.csv",
        "encoding": "utf-8",
        "delimiter": ",",
        "phone_column": "phone",
        "variables": ["name", "city"],
        "rows": 10,
        "imported": 7,
        "rejected": 3,
        "rejected_by_reason": {"invalid_number": 2, "duplicate_in_file": 1},
        "dry_run": False,
        "variables_checked": True,
    }


def test_summary_to_dict_adds_query_and_dropped_columns_only_when_present() -> None:
    plain = ImportSummary(file="x.csv").to_dict()
    assert "query" not in plain and "dropped_columns" not in plain

    sql = ImportSummary(
        file="postgresql://u:***@db/crm",
        query="SELECT phone FROM leads",
        dropped=("Owner",),
        variables_checked=False,
        dry_run=True,
    ).to_dict()
    assert sql["query"] == "SELECT phone FROM leads"
    assert sql["dropped_columns"] == ["Owner"]
    assert (sql["variables_checked"], sql["dry_run"]) == (False, True)


def test_summary_to_dict_is_json_serialisable_and_its_keys_are_stable() -> None:
    data = ImportSummary(file="f.csv", rejected=Counter({"too_long": 1})).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert list(data) == [
        "file",
        "encoding",
        "delimiter",
        "phone_column",
        "variables",
        "rows",
        "imported",
        "rejected",
        "rejected_by_reason",
        "dry_run",
        "variables_checked",
    ]


def test_each_summary_has_its_own_rejection_counter() -> None:
    first, second = ImportSummary(file="a"), ImportSummary(file="b")
    first.rejected["too_long"] += 1
    assert second.rejected == Counter()


def test_import_refused_is_a_value_error_with_the_reason() -> None:
    error = ImportRefused("nothing imported; no phone column")
    assert isinstance(error, ValueError)
    assert str(error) == "nothing imported; no phone column"
