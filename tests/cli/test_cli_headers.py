"""``segarena dataset check`` and ``dataset upload --strip-identifiers`` (issue 14): files and
fields are named, content never printed; the exit code says whether anything was found."""

from __future__ import annotations

import json
from pathlib import Path

from evaluator import headers
from tests.cli.conftest import SLUG, World
from tests.cli.helpers import Cli, api
from tests.evaluator import identifying as ident

NEEDLE = ident.PATIENT[:8]


def _offline(tmp_path: Path) -> Cli:
    return Cli("http://127.0.0.1:9", tmp_path / "cli.json")  # check never calls a server


def test_check_names_files_and_fields_and_exits_1(tmp_path: Path) -> None:
    root = ident.dataset().write_dir(tmp_path / "ds")
    (root / "extra").mkdir()
    (root / "extra" / "scan.nii").write_bytes(ident.identifying(2, gz=False, extensions=()))
    result = _offline(tmp_path)("dataset", "check", str(root))
    assert result.exit_code == 1, result.output
    assert NEEDLE not in result.output
    assert ("inputs/case001/flair.nii.gz: data_type, db_name, descrip, aux_file, intent_name, "
            "extension 1 (dicom, code 2)") in result.output
    assert "references/case001.nii.gz: descrip, extension 1 (dicom, code 2)" in result.output
    assert "inputs/case002/flair.nii.gz: gzip file name" in result.output
    assert "extra/scan.nii: descrip, aux_file, intent_name, unused_str" in result.output
    assert "5 of 10 NIfTI file(s) carry identifying header content" in result.output
    as_json = _offline(tmp_path)("dataset", "check", str(root), "--json")
    assert as_json.exit_code == 1
    report = json.loads(as_json.stdout)
    assert report["files"] == 10 and report["unreadable"] == {}
    assert report["identifying"]["inputs/case002/t1.nii.gz"] == ["descrip"]
    assert sorted(report["identifying"]) == ["extra/scan.nii", "inputs/case001/flair.nii.gz",
                                             "inputs/case002/flair.nii.gz",
                                             "inputs/case002/t1.nii.gz",
                                             "references/case001.nii.gz"]
    assert NEEDLE not in as_json.output


def test_check_strip_writes_clean_copies_that_check_clean(tmp_path: Path) -> None:
    root = ident.dataset().write_dir(tmp_path / "ds")
    out = tmp_path / "clean"
    cli = _offline(tmp_path)
    assert cli("dataset", "check", str(root), "--strip").exit_code == 1  # --out is needed
    stripped = cli("dataset", "check", str(root), "--strip", "--out", str(out))
    assert stripped.exit_code == 0, stripped.output
    assert "wrote 9 file(s) without identifying header content" in stripped.output
    assert ident.files_with_patient(out) == []
    assert [p.relative_to(out) for p in headers.nifti_files(out)] == [
        p.relative_to(root) for p in headers.nifti_files(root)]
    again = cli("dataset", "check", str(out))
    assert again.exit_code == 0, again.output
    assert "9 NIfTI file(s) checked: no identifying header content" in again.output
    refused = cli("dataset", "check", str(root), "--strip", "--out", str(out))
    assert refused.exit_code == 1 and "is not empty" in refused.output


def test_check_reports_an_unreadable_header(tmp_path: Path) -> None:
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "broken.nii.gz").write_bytes(b"not gzip at all" * 40)
    result = _offline(tmp_path)("dataset", "check", str(tmp_path / "ds"))
    assert result.exit_code == 1
    assert "unreadable header: broken.nii.gz" in result.output


def test_upload_refuses_identifying_headers_before_sending(world: World, tmp_path: Path) -> None:
    root = ident.dataset().write_dir(tmp_path / "ds")
    ola = world.tokens["ola"]
    refused = world.cli("dataset", "upload", SLUG, str(root), "--name", "scans", token=ola)
    assert refused.exit_code == 1
    assert "inputs/case001/flair.nii.gz: data_type" in refused.output
    assert "nothing was uploaded" in refused.output and NEEDLE not in refused.output
    with api(world.server.url, ola) as client:
        names = [d["name"] for d in client.get(f"/challenges/{SLUG}/datasets").json()["items"]]
    assert "scans" not in names
    uploaded = world.cli("dataset", "upload", SLUG, str(root), "--name", "scans",
                         "--strip-identifiers", "--json", token=ola)
    assert uploaded.exit_code == 0, uploaded.output
    assert "the server will strip identifying header content from 4 file(s)" in uploaded.output
    dataset = json.loads(uploaded.stdout)["dataset"]
    assert dataset["name"] == "scans" and dataset["n_cases"] == 3
    assert ident.files_with_patient(world.server.root / "storage") == []
    # The server's checksum is that of the files a local strip writes.
    local = tmp_path / "local"
    assert world.cli("dataset", "check", str(root), "--strip", "--out", str(local)).exit_code == 0
    plain = world.cli("dataset", "upload", SLUG, str(local), "--name", "scans-local", "--json",
                      token=ola)
    assert plain.exit_code == 0, plain.output
    assert json.loads(plain.stdout)["dataset"]["checksum"] == dataset["checksum"]
