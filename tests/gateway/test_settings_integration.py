"""The settings of the integration features: every bad value names its key."""

from __future__ import annotations

import pytest

from gateway.settings import SettingsError, load_settings


def refused(env: dict[str, str]) -> SettingsError:
    with pytest.raises(SettingsError) as info:
        load_settings(None, env)
    return info.value


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("UNDERBID_SECURITY_PLATFORM_JWKS_URL", "http://platform.example/jwks", "https"),
        ("UNDERBID_SECURITY_PLATFORM_JWKS_URL", "ftp://platform.example/jwks", "http(s)"),
        ("UNDERBID_SECURITY_PLATFORM_ROLES", "bidder,admin", "bidder, observer or official"),
        ("UNDERBID_BRIDGE_CDB_URL", "cdb.example/api", "http(s)"),
        ("UNDERBID_BRIDGE_DS_URL", "mailto:x@example.org", "http(s)"),
        ("UNDERBID_BRIDGE_ROUNDS", "0", "between 1 and 10"),
        ("UNDERBID_BRIDGE_ROUNDS", "11", "between 1 and 10"),
        ("UNDERBID_BRIDGE_TURN_MS", "-1", "negative"),
        ("UNDERBID_BRIDGE_POLL_MS", "0", ">= 1"),
        ("UNDERBID_WEBHOOKS_TIMEOUT_MS", "0", ">= 1"),
        ("UNDERBID_OCDS_LICENSE", "CC-BY", "http(s)"),
    ],
)
def test_bad_values_name_their_variable(name: str, value: str, message: str) -> None:
    error = refused({name: value})
    assert error.key == name and message in error.message


def test_good_values() -> None:
    settings = load_settings(
        None,
        {
            "UNDERBID_SECURITY_PLATFORM_JWKS_URL": "https://platform.example/.well-known/jwks.json",
            "UNDERBID_SECURITY_PLATFORM_ROLES": "bidder",
            "UNDERBID_BRIDGE_CDB_URL": "https://cdb.example/api/2.5/",
            "UNDERBID_BRIDGE_TURN_MS": "0",
        },
    )
    assert settings.security.platform_roles == ("bidder",)
    assert settings.bridge.cdb_url == "https://cdb.example/api/2.5"
    assert load_settings(
        None, {"UNDERBID_SECURITY_PLATFORM_JWKS_URL": "http://127.0.0.1:9/jwks"}
    ).security.platform_jwks_url
