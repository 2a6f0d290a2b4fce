"""Settings: safe defaults that config/default.toml documents exactly, overrides
from the environment parsed by type, and every bad value reported with its key."""

from __future__ import annotations

import logging
import re
import tomllib
from pathlib import Path
from typing import Any

import msgspec
import pytest

from gateway.settings import (
    SECTIONS,
    LimitsSettings,
    SecuritySettings,
    Settings,
    SettingsError,
    load_settings,
    section_fields,
    token_secret,
)

DEFAULT_TOML = Path(__file__).resolve().parents[2] / "config" / "default.toml"
SECRET = "0123456789abcdef0123456789abcdef"


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "underbid.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def error_of(
    tmp_path: Path, text: str | None = None, env: dict[str, str] | None = None
) -> SettingsError:
    path = write(tmp_path, text) if text is not None else None
    with pytest.raises(SettingsError) as info:
        load_settings(path, env or {})
    assert str(info.value).startswith(info.value.key + ": ")
    return info.value


def every_key() -> list[str]:
    return [f"{section}.{key}" for section in SECTIONS for key in section_fields(section)]


def default_of(dotted: str) -> Any:
    section, key = dotted.split(".")
    return getattr(getattr(Settings(), section), key)


# ------------------------------------------------------------------ defaults
def test_defaults_are_valid() -> None:
    assert load_settings(None, {}) == Settings()
    settings = Settings()
    assert (settings.server.host, settings.server.port) == ("127.0.0.1", 8000)
    assert settings.limits.max_frame_bytes == 4096
    assert settings.limits.compression is False
    assert settings.security.token_secret == ""
    assert settings.auctions.public_by_default is True


def test_default_toml_lists_every_key_with_its_default() -> None:
    data = tomllib.loads(DEFAULT_TOML.read_text(encoding="utf-8"))
    in_file = {
        f"{section}.{key}": value for section, table in data.items() for key, value in table.items()
    }
    assert sorted(in_file) == sorted(every_key())
    for dotted, value in in_file.items():
        default = default_of(dotted)
        assert (list(default) if isinstance(default, tuple) else default) == value, dotted
    assert load_settings(str(DEFAULT_TOML), {}) == Settings()


def test_default_toml_documents_each_key_with_a_comment() -> None:
    lines = DEFAULT_TOML.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if re.match(r"[a-z_]+ = ", line):
            assert lines[i - 1].startswith("# "), f"no comment above {line!r}"


def test_settings_are_frozen() -> None:
    with pytest.raises(AttributeError):
        Settings().server.port = 1  # type: ignore[misc]


# ------------------------------------------------------------------ the file
def test_a_file_sets_only_what_it_names(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"""
[server]
port = 9001
public_url = "https://auctions.example/"

[security]
allowed_origins = ["https://Auctions.Example", "http://[::1]:8000"]
token_secret = "{SECRET}"

[limits]
compression = true
""",
    )
    settings = load_settings(path, {})
    assert settings.server.port == 9001
    assert settings.server.host == "127.0.0.1"
    assert settings.server.public_url == "https://auctions.example"
    assert settings.security.allowed_origins == ("https://auctions.example", "http://[::1]:8000")
    assert settings.security.token_secret == SECRET
    assert settings.limits.compression is True
    assert settings.limits.burst == 40


@pytest.mark.parametrize(
    "url",
    ["", "memory://", "redis://127.0.0.1:6379/0", "rediss://r.example:6380", "unix:///r.sock"],
)
def test_journal_urls(tmp_path: Path, url: str) -> None:
    path = write(tmp_path, f'[journal]\nredis_url = "{url}"\n')
    assert load_settings(path, {}).journal.redis_url == url


# ------------------------------------------------------------------ environment
@pytest.mark.parametrize(
    "name, text, dotted, value",
    [
        ("UNDERBID_SERVER_PORT", "9000", "server.port", 9000),
        ("UNDERBID_SERVER_PORT", " +9000 ", "server.port", 9000),
        ("UNDERBID_LIMITS_MAX_FRAME_BYTES", "8192", "limits.max_frame_bytes", 8192),
        ("UNDERBID_SERVER_HOST", "0.0.0.0", "server.host", "0.0.0.0"),
        ("UNDERBID_JOURNAL_REDIS_URL", "redis://r:6379/1", "journal.redis_url", "redis://r:6379/1"),
        ("UNDERBID_SECURITY_TOKEN_SECRET", SECRET, "security.token_secret", SECRET),
        ("UNDERBID_LIMITS_COMPRESSION", "true", "limits.compression", True),
        ("UNDERBID_LIMITS_COMPRESSION", "TRUE", "limits.compression", True),
        ("UNDERBID_LIMITS_COMPRESSION", "1", "limits.compression", True),
        ("UNDERBID_AUCTIONS_PUBLIC_BY_DEFAULT", "false", "auctions.public_by_default", False),
        ("UNDERBID_AUCTIONS_PUBLIC_BY_DEFAULT", "0", "auctions.public_by_default", False),
        (
            "UNDERBID_SECURITY_ALLOWED_ORIGINS",
            "https://a.example, https://b.example:8443",
            "security.allowed_origins",
            ("https://a.example", "https://b.example:8443"),
        ),
        ("UNDERBID_SECURITY_ALLOWED_ORIGINS", "", "security.allowed_origins", ()),
        (
            "UNDERBID_SECURITY_ALLOWED_ORIGINS",
            "https://only.example",
            "security.allowed_origins",
            ("https://only.example",),
        ),
    ],
)
def test_environment_overrides_by_type(name: str, text: str, dotted: str, value: Any) -> None:
    section, key = dotted.split(".")
    settings = load_settings(None, {name: text})
    assert getattr(getattr(settings, section), key) == value


def test_every_key_has_an_environment_variable() -> None:
    for dotted in every_key():
        section, key = dotted.split(".")
        default = default_of(dotted)
        # Values that keep the cross-key rules (pings before the idle timeout,
        # a node's lifetime at least three heartbeats) with the other defaults.
        number = {
            "ping_interval_s": 5,
            "min_replicas": 5,
            "heartbeat_ms": 5,
            "node_ttl_ms": 700,
            "rounds": 5,
        }.get(key, 70)
        text, expected = {
            bool: ("true", True),
            int: (str(number), number),
            str: (default, default),
            tuple: ("", ()),
        }[type(default)]
        settings = load_settings(None, {f"UNDERBID_{section.upper()}_{key.upper()}": text})
        assert getattr(getattr(settings, section), key) == expected, dotted


def test_the_environment_wins_over_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 9001\n")
    assert load_settings(path, {"UNDERBID_SERVER_PORT": "9002"}).server.port == 9002


def test_other_variables_are_ignored() -> None:
    env = {
        "PATH": "/bin",
        "UNDERBID_CONFIG": "x.toml",
        "UNDERBID": "1",
        "underbid_server_port": "1",
    }
    assert load_settings(None, env) == Settings()


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    "text, key",
    [
        ("[server]\nprot = 9000\n", "server.prot"),
        ("[sever]\nport = 9000\n", "sever"),
        ("port = 9000\n", "port"),
        ("server = 5\n", "server"),
        ("[server.tls]\ncert = 'x'\n", "server.tls"),
        ('[server]\nport = "9000"\n', "server.port"),
        ("[server]\nport = 9000.0\n", "server.port"),
        ("[server]\nport = 0\n", "server.port"),
        ("[server]\nport = 65536\n", "server.port"),
        ('[server]\nhost = ""\n', "server.host"),
        ('[server]\nhost = "my host"\n', "server.host"),
        ('[server]\npublic_url = "auctions.example"\n', "server.public_url"),
        ('[server]\npublic_url = "ftp://auctions.example"\n', "server.public_url"),
        ('[server]\npublic_url = "https://a.example/?x=1"\n', "server.public_url"),
        ('[server]\npublic_url = "https://a.example:99999"\n', "server.public_url"),
        ('[journal]\nredis_url = "mysql://db"\n', "journal.redis_url"),
        ("[journal]\nlease_ms = 0\n", "journal.lease_ms"),
        ("[journal]\nsnapshot_every = -5\n", "journal.snapshot_every"),
        ('[security]\ntoken_secret = "short"\n', "security.token_secret"),
        ("[security]\ntoken_secret = 12345\n", "security.token_secret"),
        ('[security]\nallowed_origins = "http://a.example"\n', "security.allowed_origins"),
        ("[security]\nallowed_origins = [1]\n", "security.allowed_origins"),
        ('[security]\nallowed_origins = ["*"]\n', "security.allowed_origins"),
        ('[security]\nallowed_origins = ["a.example"]\n', "security.allowed_origins"),
        ('[security]\nallowed_origins = ["https://a.example/"]\n', "security.allowed_origins"),
        ('[security]\nallowed_origins = ["https://a.example/app"]\n', "security.allowed_origins"),
        ('[security]\nallowed_origins = ["ws://a.example"]\n', "security.allowed_origins"),
        ('[security]\nallowed_origins = ["http://a.example:0"]\n', "security.allowed_origins"),
        ('[security]\nallowed_origins = ["http://a.example:70000"]\n', "security.allowed_origins"),
        ("[security]\ntoken_ttl_s = 0\n", "security.token_ttl_s"),
        ("[limits]\nmax_frame_bytes = 0\n", "limits.max_frame_bytes"),
        ("[limits]\nmax_frame_bytes = true\n", "limits.max_frame_bytes"),
        ("[limits]\nmessages_per_second = -1\n", "limits.messages_per_second"),
        ("[limits]\nburst = 0\n", "limits.burst"),
        ("[limits]\nconnections_per_bidder = 0\n", "limits.connections_per_bidder"),
        ("[limits]\nsend_queue_frames = 0\n", "limits.send_queue_frames"),
        ("[limits]\nidle_timeout_s = 0\n", "limits.idle_timeout_s"),
        ("[limits]\nping_interval_s = 0\n", "limits.ping_interval_s"),
        ("[limits]\nping_interval_s = 60\n", "limits.ping_interval_s"),
        ("[limits]\nidle_timeout_s = 20\n", "limits.idle_timeout_s"),
        ("[limits]\nidle_timeout_s = 5\nping_interval_s = 5\n", "limits.ping_interval_s"),
        ("[limits]\ncompression = 1\n", "limits.compression"),
        ('[limits]\ncompression = "false"\n', "limits.compression"),
        ("[auctions]\npublic_by_default = 0\n", "auctions.public_by_default"),
        ("[auctions]\npublic_by_default = 1979-05-27\n", "auctions.public_by_default"),
    ],
)
def test_file_errors_name_their_key(tmp_path: Path, text: str, key: str) -> None:
    assert error_of(tmp_path, text).key == key


def test_typos_get_a_suggestion(tmp_path: Path) -> None:
    assert "did you mean `port`?" in error_of(tmp_path, "[server]\nprot = 1\n").message
    assert "did you mean `server`?" in error_of(tmp_path, "[sever]\n").message


def test_wrong_types_say_what_was_expected(tmp_path: Path) -> None:
    error = error_of(tmp_path, '[server]\nport = "9000"\n')
    assert "int" in error.message and "str" in error.message
    error = error_of(tmp_path, "[server]\nport = 70000\n")
    assert "65535" in error.message


@pytest.mark.parametrize(
    "text, line",
    [
        ("[server]\nport = \n", 2),
        ("[server]\nport = 1\n\n[limits\n", 4),
        ("[server]\nport = 1\nport = 2\n", 3),
    ],
)
def test_toml_syntax_errors_name_the_file_and_line(tmp_path: Path, text: str, line: int) -> None:
    error = error_of(tmp_path, text)
    assert error.key.endswith("underbid.toml")
    assert f"line {line}" in error.message


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "underbid.toml"
    path.write_bytes(b'[server]\nhost = "\xff"\n')
    with pytest.raises(SettingsError) as info:
        load_settings(str(path), {})
    assert info.value.key == str(path)


def test_a_missing_file(tmp_path: Path) -> None:
    path = str(tmp_path / "nowhere.toml")
    with pytest.raises(SettingsError) as info:
        load_settings(path, {})
    assert info.value.key == path
    assert "cannot read" in info.value.message


@pytest.mark.parametrize(
    "name, text",
    [
        ("UNDERBID_SERVER_PORT", "nine"),
        ("UNDERBID_SERVER_PORT", "9000.0"),
        ("UNDERBID_SERVER_PORT", ""),
        ("UNDERBID_SERVER_PORT", "0"),
        ("UNDERBID_SERVER_PORT", "65536"),
        ("UNDERBID_LIMITS_MAX_FRAME_BYTES", "-1"),
        ("UNDERBID_LIMITS_COMPRESSION", "yes"),
        ("UNDERBID_LIMITS_COMPRESSION", ""),
        ("UNDERBID_SECURITY_ALLOWED_ORIGINS", "https://a.example,*"),
        ("UNDERBID_SECURITY_TOKEN_SECRET", "short"),
        ("UNDERBID_JOURNAL_REDIS_URL", "postgres://db"),
        ("UNDERBID_SERVER_PROT", "9000"),
        ("UNDERBID_LIMITS_PING_INTERVAL_S", "60"),
    ],
)
def test_environment_errors_name_their_variable(tmp_path: Path, name: str, text: str) -> None:
    assert error_of(tmp_path, env={name: text}).key == name


def test_an_unknown_variable_gets_a_suggestion(tmp_path: Path) -> None:
    error = error_of(tmp_path, env={"UNDERBID_SERVER_PROT": "9000"})
    assert "UNDERBID_SERVER_PORT" in error.message


def test_a_conflict_blames_the_key_that_was_set(tmp_path: Path) -> None:
    text = "[limits]\nping_interval_s = 30\n"
    error = error_of(tmp_path, text, env={"UNDERBID_LIMITS_IDLE_TIMEOUT_S": "10"})
    assert error.key == "limits.ping_interval_s"
    error = error_of(tmp_path, env={"UNDERBID_LIMITS_IDLE_TIMEOUT_S": "10"})
    assert error.key == "UNDERBID_LIMITS_IDLE_TIMEOUT_S"


# ------------------------------------------------------------------ the token secret
def test_a_configured_secret_is_used() -> None:
    assert token_secret(SecuritySettings(token_secret=SECRET)) == SECRET.encode()


def test_an_empty_secret_is_random_per_process_and_warned_about(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="underbid.gateway"):
        first = token_secret(SecuritySettings())
        second = token_secret(SecuritySettings())
    assert len(first) == 32 and first != second
    assert "will not survive a restart" in caplog.text
    assert first.hex() not in caplog.text


def test_settings_structs_reject_unknown_fields_when_converted() -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"max_frame_byte": 1}, LimitsSettings)
