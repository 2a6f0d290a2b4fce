"""Reading spec and script documents (auction.documents)."""

from __future__ import annotations

from pathlib import Path

import pytest

from auction.core.errors import UnderbidError
from auction.documents import DocumentError, load_document


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def error(path: Path) -> str:
    with pytest.raises(DocumentError) as info:
        load_document(path)
    return str(info.value)


def test_a_toml_file() -> None:
    example = Path(__file__).resolve().parents[1] / "config" / "examples" / "rounds.toml"
    data = load_document(example)
    assert data["format"] == "rounds"
    assert data["rounds"]["turn_s"] == 120
    assert len(data["bidders"]) == 3


def test_a_json_file_and_a_str_path(tmp_path: Path) -> None:
    path = write(tmp_path, "spec.json", '{"id": "x", "amount": 1.5, "name": "Ціна"}')
    assert load_document(str(path)) == {"id": "x", "amount": 1.5, "name": "Ціна"}


@pytest.mark.parametrize("suffix", [".JSON", ".Json"])
def test_the_suffix_is_case_insensitive(tmp_path: Path, suffix: str) -> None:
    assert load_document(write(tmp_path, f"spec{suffix}", '{"a": 1}')) == {"a": 1}
    assert load_document(write(tmp_path, "spec.TOML", "a = 1")) == {"a": 1}


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("spec", '  {"a": 1}', {"a": 1}),
        ("spec.txt", '{"a": 1}', {"a": 1}),
        ("spec", "a = 1", {"a": 1}),
        ("spec.conf", "[t]\nb = 'x'", {"t": {"b": "x"}}),
    ],
)
def test_without_a_known_suffix_json_is_recognised_by_its_brace(
    tmp_path: Path, name: str, text: str, expected: dict[str, object]
) -> None:
    assert load_document(write(tmp_path, name, text)) == expected


def test_a_toml_file_starting_with_a_brace_is_still_toml(tmp_path: Path) -> None:
    message = error(write(tmp_path, "spec.toml", '{"a": 1}'))
    assert "invalid TOML" in message


def test_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    assert error(path) == f"{path}: no such file"


def test_a_directory_cannot_be_read(tmp_path: Path) -> None:
    assert error(tmp_path).startswith(f"{tmp_path}: cannot read: ")


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = write(tmp_path, "spec.toml", b'title = "\xff\xfe"\n')
    assert error(path).startswith(f"{path}: cannot read: ")


def test_a_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "spec.toml", 'id = "x"\n\nstart_value = = 3\n')
    message = error(path)
    assert message.startswith(f"{path}: invalid TOML: ")
    assert "line 3" in message


def test_a_json_syntax_error_names_the_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "spec.json", '{\n  "id": "x",\n  "a": ,\n}')
    assert error(path) == f"{path}:3:8: invalid JSON: Expecting value"


@pytest.mark.parametrize("text", ["[1, 2]", '"text"', "3", "null"])
def test_the_top_level_must_be_an_object(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, "spec.json", text)
    assert error(path) == f"{path}: the document must be a table/object at the top level"


def test_a_document_error_is_an_underbid_error() -> None:
    assert issubclass(DocumentError, UnderbidError)
