"""The one file writer: whole files, readable by the group (reports are shared), clear errors, one JSON layout."""
import json
import os
import stat

import pytest

from codeguard.atomic_files import json_text, write_json_atomically, write_text_atomically
from codeguard.errors import OutputError


def test_files_get_the_permissions_of_a_plain_open_not_the_temp_files_0600(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_text_atomically(tmp_path / "deep" / "report.md", "# hello\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert path.read_text() == "# hello\n"
    assert [p.name for p in path.parent.iterdir()] == ["report.md"]  # no temp file left behind


def test_json_is_sorted_indented_and_keeps_non_finite_numbers(tmp_path):
    path = write_json_atomically(tmp_path / "b.json", {"b": float("nan"), "a": "é"})
    assert path.read_text() == '{\n  "a": "é",\n  "b": NaN\n}\n' == json_text({"b": float("nan"), "a": "é"})
    assert json.loads(path.read_text())["a"] == "é"


def test_an_unwritable_place_is_an_error_naming_the_path(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(OutputError, match=r"cannot write .*a-file/x/results.json: Not a directory"):
        write_text_atomically(blocker / "x" / "results.json", "{}")
