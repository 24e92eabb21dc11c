"""Configuration loading: precedence, strictness and redaction."""

from pathlib import Path

import pytest

from drawbridge.errors import ConfigError
from drawbridge.settings import load_settings, redacted

DEV = {"DRAWBRIDGE_SERVER__DEV": "true"}


def test_defaults_are_sqlite_under_data_dir_and_ten_minute_tokens() -> None:
    settings = load_settings(None, DEV)
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert settings.database_url.endswith("drawbridge-data/drawbridge.db")
    assert settings.tokens.access_token_ttl <= 600
    assert settings.keys.algorithm == "RS256"


def test_environment_overrides_file_and_overrides_win(tmp_path: Path) -> None:
    path = tmp_path / "drawbridge.toml"
    path.write_text('[server]\nport = 7000\nhost = "127.0.0.2"\ndev = true\n[logging]\nlevel = "DEBUG"\n')
    settings = load_settings(path, {"DRAWBRIDGE_SERVER__PORT": "7100"}, {"logging": {"level": "ERROR"}})
    assert settings.server.host == "127.0.0.2"
    assert settings.server.port == 7100
    assert settings.logging.level == "ERROR"


def test_config_env_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[server]\ndev = true\nport = 7200\n")
    assert load_settings(None, {"DRAWBRIDGE_CONFIG": str(path)}).server.port == 7200


def test_json_list_in_environment() -> None:
    settings = load_settings(None, {**DEV, "DRAWBRIDGE_SERVER__TRUSTED_PROXIES": '["10.0.0.1", "::1"]'})
    assert settings.server.trusted_proxies == ("10.0.0.1", "::1")


def test_test_suite_variables_are_not_settings() -> None:
    settings = load_settings(None, {**DEV, "DRAWBRIDGE_TEST_POSTGRES_URL": "postgresql+asyncpg://x/y"})
    assert settings.storage.database_url is None


@pytest.mark.parametrize(
    ("toml", "where"),
    [
        ("[server]\nprot = 1\n", "server.prot"),
        ("[nonsense]\nx = 1\n", "nonsense"),
        ('[server]\nport = "eighty"\n', "server.port"),
        ("[server]\nport = 70000\n", "server.port"),
        ('[keys]\nalgorithm = "none"\n', "keys.algorithm"),
        ("[tokens]\naccess_token_ttl = 86400\n", "tokens.access_token_ttl"),
    ],
)
def test_bad_config_file_names_the_key(tmp_path: Path, toml: str, where: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as info:
        load_settings(path, DEV)
    message = str(info.value)
    assert "\n" not in message
    assert f" {where}:" in message


def test_unknown_environment_variable_is_an_error() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, {**DEV, "DRAWBRIDGE_SERVER__PROT": "80"})
    assert "server.prot" in str(info.value)


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path / "absent.toml", DEV)
    assert str(tmp_path / "absent.toml") in str(info.value)


def test_unparsable_toml_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[server\n")
    with pytest.raises(ConfigError):
        load_settings(path, DEV)


def test_plain_http_issuer_refused_outside_dev() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, {})
    assert "public_url" in str(info.value)


def test_https_public_url_is_accepted_without_dev() -> None:
    settings = load_settings(None, {"DRAWBRIDGE_SERVER__PUBLIC_URL": "https://mcp.example.com/"})
    assert settings.base_url == "https://mcp.example.com"


def test_tls_files_must_come_in_pairs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, {**DEV, "DRAWBRIDGE_SERVER__SSL_CERTFILE": str(tmp_path / "c.pem")})
    assert "ssl_keyfile" in str(info.value)


def test_redacted_hides_secrets_and_database_password() -> None:
    settings = load_settings(
        None,
        {
            **DEV,
            "DRAWBRIDGE_KEYS__ENCRYPTION_KEY": "correct horse battery staple",
            "DRAWBRIDGE_STORAGE__DATABASE_URL": "postgresql+asyncpg://app:hunter2@127.0.0.1/db",
        },
    )
    shown = repr(redacted(settings))
    assert "correct horse" not in shown
    assert "hunter2" not in shown
    assert "postgresql+asyncpg://app:***@127.0.0.1/db" in shown
