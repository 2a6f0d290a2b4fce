"""``underbid export-ocds``: from a record file, stdin, or a server's record URL
to a valid OCDS release package; every failure a clear error and status 2."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from auction.cli import EXIT_INPUT, main
from tests.factories import EXAMPLES
from tests.gateway.server_fixture import LiveServer, live_server
from tests.gateway.test_integration import finished_open_auction
from tests.ocds_schema import assert_valid

Cap = pytest.CaptureFixture[str]


@pytest.fixture
def record(tmp_path: Path, capsys: Cap) -> Path:
    assert main(["simulate", str(EXAMPLES / "rounds-features.toml"), "--json"]) == 0
    path = tmp_path / "record.json"
    path.write_text(capsys.readouterr().out, encoding="utf-8")
    return path


def test_a_record_file_becomes_a_valid_package(record: Path, capsys: Cap) -> None:
    assert main(["export-ocds", str(record), "--auction-url", "https://a.example/watch/x"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    package = json.loads(out)
    assert_valid(package)
    (release,) = package["releases"]
    assert (
        release["tender"]["techniques"]["electronicAuction"]["url"] == "https://a.example/watch/x"
    )
    assert package["uri"].startswith("urn:underbid:auction:")


def test_stdin_the_settings_and_an_output_file(
    record: Path, tmp_path: Path, capsys: Cap, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "underbid.toml"
    config.write_text(
        '[ocds]\nocid_prefix = "ocds-x1y2z3"\npublisher_name = "Oblast buyer"\n'
        'license = "https://creativecommons.org/licenses/by/4.0/"\n',
        encoding="utf-8",
    )
    monkeypatch.setattr("sys.stdin", io.StringIO(record.read_text(encoding="utf-8")))
    out_path = tmp_path / "release.json"
    code = main(["export-ocds", "-", "--config", str(config), "--out", str(out_path)])
    assert code == 0
    assert "wrote" in capsys.readouterr().err
    package = json.loads(out_path.read_text(encoding="utf-8"))
    assert package["publisher"] == {"name": "Oblast buyer"}
    assert package["license"] == "https://creativecommons.org/licenses/by/4.0/"
    assert package["releases"][0]["ocid"].startswith("ocds-x1y2z3-")
    assert_valid(package)


async def test_a_servers_record_url(capsys: Cap) -> None:
    async with live_server() as server:
        await _export_from(server, capsys)


async def _export_from(server: LiveServer, capsys: Cap) -> None:
    import asyncio

    await finished_open_auction(server, "cli-ocds")
    url = f"{server.base_url}/api/auctions/cli-ocds/record"
    argv = ["export-ocds", url, "--token", server.operator_token]
    assert await asyncio.to_thread(main, argv) == 0
    package = json.loads(capsys.readouterr().out)
    assert_valid(package)
    assert package["uri"] == f"{server.base_url}/api/auctions/cli-ocds/ocds"
    served = (await server.http.get("/api/auctions/cli-ocds/ocds")).json()
    assert package == served
    # a private auction's record without a token: the server's refusal, named
    await finished_open_auction(server, "cli-private", public=False)
    private = f"{server.base_url}/api/auctions/cli-private/record"
    assert await asyncio.to_thread(main, ["export-ocds", private]) == EXIT_INPUT
    assert "404 unknown_auction" in capsys.readouterr().err


def test_failures_are_named(record: Path, tmp_path: Path, capsys: Cap) -> None:
    unfinished = json.loads(record.read_text(encoding="utf-8"))
    unfinished["result"]["finished"] = False
    path = tmp_path / "unfinished.json"
    path.write_text(json.dumps(unfinished), encoding="utf-8")
    cases = [
        ([str(path)], "has not finished"),
        ([str(tmp_path / "missing.json")], "no such file"),
        (["http://127.0.0.1:9/api/auctions/x/record"], "ConnectError"),
        ([str(record), "--config", str(tmp_path / "none.toml")], "cannot read the settings file"),
    ]
    for argv, message in cases:
        assert main(["export-ocds", *argv]) == EXIT_INPUT
        assert message in capsys.readouterr().err
