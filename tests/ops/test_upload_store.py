"""The one upload store of the console and the API: a folder per upload, its status read
back whole, foreign names refused, and uploads left a day swept (nothing else)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from campaign_engine.ops.upload_store import KEEP_SECONDS, STATUS_NAME, UploadStore


def test_an_upload_is_read_back_as_saved_by_any_store_on_the_same_folder(tmp_path: Path) -> None:
    made = UploadStore(str(tmp_path)).new("camp-1", "leads.csv", "asha")
    made.path.write_bytes(b"Phone\n+919811111111\n")
    made.state, made.received_bytes = "received", 21
    made.save()

    found = UploadStore(str(tmp_path)).get(made.id)

    assert found is not None and found.folder == tmp_path / made.id
    assert (found.state, found.received_bytes, found.by, found.name) == (
        "received", 21, "asha", "leads.csv",
    )  # fmt: skip
    assert found.path.read_bytes() == b"Phone\n+919811111111\n"


def test_names_that_are_not_an_uploads_id_are_refused(tmp_path: Path) -> None:
    store = UploadStore(str(tmp_path))
    store.new("camp-1", "a.csv", "asha")
    for name in ("../etc", "", "x" * 36, str(tmp_path), "..%2f"):
        assert store.get(name) is None


def test_a_new_upload_sweeps_those_untouched_for_a_day_and_nothing_else(tmp_path: Path) -> None:
    store = UploadStore(str(tmp_path))
    old, fresh = store.new("c", "old.csv", "a"), store.new("c", "fresh.csv", "a")
    foreign = tmp_path / "keep-me.txt"
    foreign.write_text("not an upload")
    long_ago = time.time() - KEEP_SECONDS - 60
    os.utime(old.folder / STATUS_NAME, (long_ago, long_ago))
    os.utime(foreign, (long_ago, long_ago))

    store.new("c", "next.csv", "a")

    assert store.get(old.id) is None and not old.folder.exists()
    assert store.get(fresh.id) is not None
    assert foreign.exists()


def test_the_import_ending_removes_the_file_and_keeps_the_status(tmp_path: Path) -> None:
    store = UploadStore(str(tmp_path))
    upload = store.new("c", "a.csv", "a")
    upload.path.write_bytes(b"x")
    upload.end("refused", "nothing imported; no phone column")

    found = store.get(upload.id)

    assert not upload.path.exists()
    assert found is not None and found.done and found.error == "nothing imported; no phone column"
