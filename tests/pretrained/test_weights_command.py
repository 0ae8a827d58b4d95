"""``torchbricks weights list|info|fetch|verify|mirror`` against a local server, and their failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.pretrained.conftest import safetensors_bytes
from torchbricks.cli import main
from torchbricks.pretrained import cached_path


def _run(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str, str]:
    code = main(["weights", *arguments])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _rows(output: str) -> list[list[str]]:
    return [line.split("\t") for line in output.rstrip("\n").splitlines()]


@pytest.fixture
def two(served) -> tuple:
    first = served("cli_a", default=True, dataset="shapes", license="MIT", summary="The first.")
    second = served("cli_b", payload=safetensors_bytes(9), sha256_is_prefix=False)
    return first, second


def test_list_shows_metadata_and_whether_cached(two, capsys) -> None:
    code, out, _ = _run(capsys, "list", "tiny.cli_*")
    assert code == 0
    rows = _rows(out)
    assert rows[0] == ["name", "pack", "default", "dataset", "license", "cached"]
    assert rows[1:] == [
        ["tiny.cli_a", "local", "yes", "shapes", "MIT", "no"],
        ["tiny.cli_b", "local", "", "unknown", "unknown", "no"],
    ]

    assert _run(capsys, "fetch", "--quiet", "tiny.cli_a")[0] == 0
    records = json.loads(_run(capsys, "list", "tiny.cli_*", "--json")[1])
    assert [(record["name"], record["cached"], record["pack"]) for record in records] == [
        ("tiny.cli_a", True, "local"),
        ("tiny.cli_b", False, "local"),
    ]
    assert records[0]["sha256"] == two[0].sha256


def test_info_shows_sources_checksum_and_cache_path(two, capsys) -> None:
    first, _ = two
    code, out, _ = _run(capsys, "info", "tiny.default")
    assert code == 0
    fields = {row[0]: row[1] for row in _rows(out)[1:]}
    assert fields["name"] == "local:tiny.cli_a"
    assert fields["sha256"] == first.sha256
    assert fields["urls"] == first.urls[0]
    assert fields["cache path"] == str(cached_path(first))
    assert fields["cached"] == "no"
    assert fields["summary"] == "The first."

    prefix = json.loads(_run(capsys, "info", "tiny.cli_a", "--json")[1])
    assert prefix["sha256_is_prefix"] is False
    assert prefix["cache_path"] == str(cached_path(first))


def test_fetch_verify_and_a_corrupted_cache(two, capsys) -> None:
    first, second = two
    code, out, _ = _run(capsys, "fetch", "--quiet", "tiny.cli_a", "tiny.cli_b")
    assert code == 0
    assert _rows(out)[1:] == [["tiny.cli_a", str(cached_path(first))], ["tiny.cli_b", str(cached_path(second))]]

    code, out, err = _run(capsys, "verify")
    assert code == 0, err
    assert {row[0]: row[1] for row in _rows(out)[1:]} == {"tiny.cli_a": "ok", "tiny.cli_b": "ok"}

    cached_path(second).write_bytes(b"corrupted")
    code, out, err = _run(capsys, "verify", "tiny.cli_a", "tiny.cli_b")
    assert code == 1
    assert {row[0]: row[1] for row in _rows(out)[1:]} == {"tiny.cli_a": "ok", "tiny.cli_b": "WRONG"}
    assert f"tiny.cli_b: {cached_path(second)} is not the expected file: size 9 bytes" in err


def test_verify_reports_what_is_not_cached(two, capsys) -> None:
    code, out, _ = _run(capsys, "verify", "tiny.cli_a", "--json")
    assert code == 0
    assert json.loads(out) == {"checked": {}, "not_cached": ["tiny.cli_a"]}


def test_mirror_fills_a_folder_an_offline_machine_uses(two, capsys, tmp_path: Path, monkeypatch) -> None:
    first, _ = two
    mirror = tmp_path / "mirror"
    code, out, err = _run(capsys, "mirror", "--quiet", str(mirror), "tiny.cli_a")
    assert code == 0
    assert _rows(out)[1:] == [["tiny.cli_a", str(mirror / "tiny.cli_a" / first.file_name)]]
    assert f"TORCHBRICKS_WEIGHTS_MIRROR={mirror.resolve()}" in err

    cached_path(first).unlink()
    monkeypatch.setenv("TORCHBRICKS_OFFLINE", "1")
    monkeypatch.setenv("TORCHBRICKS_WEIGHTS_MIRROR", str(mirror))
    code, out, _ = _run(capsys, "fetch", "tiny.cli_a")
    assert code == 0
    assert _rows(out)[1:] == [["tiny.cli_a", str(mirror / "tiny.cli_a" / first.file_name)]]


def test_failures_are_one_line_each_and_exit_1(two, served, capsys, monkeypatch) -> None:
    served("cli_corrupt", "corrupt")
    code, out, err = _run(capsys, "fetch", "--quiet", "tiny.cli_corrupt", "tiny.cli_a", "tiny.cli_typo")
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("torchbricks weights fetch: Pretrained weights 'tiny.cli_corrupt'")
    assert "sent another file: sha256 " in lines[0]
    assert lines[1].startswith("torchbricks weights fetch: No pretrained weights named 'tiny.cli_typo'.")
    assert [row[0] for row in _rows(out)[1:]] == ["tiny.cli_a"]  # the good one was still fetched

    monkeypatch.setenv("TORCHBRICKS_OFFLINE", "1")
    code, _, err = _run(capsys, "fetch", "tiny.cli_b")
    assert code == 1
    assert "TORCHBRICKS_OFFLINE=1 is set" in err
    assert "`torchbricks weights mirror DIR tiny.cli_b`" in err

    code, _, err = _run(capsys, "info", "tiny.cli_c")
    assert code == 1
    assert err.startswith("torchbricks weights: No pretrained weights named 'tiny.cli_c'. Did you mean")


def test_weights_needs_an_action(capsys) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["weights"])
    assert caught.value.code == 2
    assert "ACTION" in capsys.readouterr().err


def test_list_all_kinds_includes_weights_rows(two, capsys) -> None:
    assert main(["list", "weights", "--filter", "tiny.cli_*"]) == 0
    rows = _rows(capsys.readouterr().out)[1:]
    assert [(row[0], row[1], row[4]) for row in rows] == [
        ("tiny.cli_a", "weights", "The first."),
        ("tiny.cli_b", "weights", ""),
    ]
