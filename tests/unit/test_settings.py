"""Settings from LADDNAT_* variables: defaults, and one clear line for each bad value."""

from __future__ import annotations

import pytest

from app.core.settings import Settings, SettingsError

SECRET = {"LADDNAT_SECRET_KEY": "x" * 32}


def test_defaults() -> None:
    s = Settings.from_env(SECRET)
    assert s.db.url == "sqlite+aiosqlite:///./var/laddnat.sqlite3"
    assert (s.http.port, s.ocpp.port, s.bus.url) == (8000, 9000, None)
    assert s.ocpp.tls_enabled is False


def test_the_roles_run_on_uvloop_unless_told_otherwise() -> None:
    assert Settings.from_env(SECRET).event_loop == "uvloop"  # a dependency on this platform
    assert Settings.from_env({**SECRET, "LADDNAT_EVENT_LOOP": "asyncio"}).event_loop == "asyncio"


def test_password_hashing_costs_default_to_the_library_for_users_and_light_for_chargers() -> None:
    auth = Settings.from_env(SECRET).auth
    assert (auth.password_time_cost, auth.password_memory_kib) == (None, None)
    assert (auth.charger_password_time_cost, auth.charger_password_memory_kib) == (1, 2048)
    low = Settings.from_env(
        {
            **SECRET,
            "LADDNAT_PASSWORD_TIME_COST": "2",
            "LADDNAT_PASSWORD_MEMORY_KIB": "1024",
            "LADDNAT_CHARGER_PASSWORD_TIME_COST": "3",
            "LADDNAT_CHARGER_PASSWORD_MEMORY_KIB": "8",
        }
    ).auth
    assert (low.password_time_cost, low.password_memory_kib) == (2, 1024)
    assert (low.charger_password_time_cost, low.charger_password_memory_kib) == (3, 8)


def test_dev_mode_supplies_a_secret() -> None:
    assert len(Settings.from_env({}, dev=True).auth.secret_key) >= 32


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({}, "LADDNAT_SECRET_KEY"),
        ({**SECRET, "LADDNAT_SECRET_KEY": "short"}, "LADDNAT_SECRET_KEY"),
        ({**SECRET, "LADDNAT_HTTP_PORT": "eighty"}, "LADDNAT_HTTP_PORT"),
        ({**SECRET, "LADDNAT_OCPP_PORT": "70000"}, "LADDNAT_OCPP_PORT"),
        ({**SECRET, "LADDNAT_DATABASE_URL": "mysql://x"}, "LADDNAT_DATABASE_URL"),
        ({**SECRET, "LADDNAT_BUS_URL": "redis://127.0.0.1:6379"}, "LADDNAT_BUS_URL"),
        ({**SECRET, "LADDNAT_NODE_ID": "node one"}, "LADDNAT_NODE_ID"),
        ({**SECRET, "LADDNAT_OCPP_TLS_CERT": "/nonexistent.pem"}, "LADDNAT_OCPP_TLS_CERT"),
        ({**SECRET, "LADDNAT_LOG_LEVEL": "LOUD"}, "LADDNAT_LOG_LEVEL"),
        ({**SECRET, "LADDNAT_EVENT_LOOP": "trio"}, "LADDNAT_EVENT_LOOP"),
        ({**SECRET, "LADDNAT_HEARTBEAT_INTERVAL_S": "0"}, "LADDNAT_HEARTBEAT_INTERVAL_S"),
        ({**SECRET, "LADDNAT_PASSWORD_TIME_COST": "0"}, "LADDNAT_PASSWORD_TIME_COST"),
        ({**SECRET, "LADDNAT_PASSWORD_MEMORY_KIB": "16"}, "LADDNAT_PASSWORD_MEMORY_KIB"),
        ({**SECRET, "LADDNAT_CHARGER_PASSWORD_TIME_COST": "one"}, "LADDNAT_CHARGER_PASSWORD_TIME_COST"),
        ({**SECRET, "LADDNAT_CHARGER_PASSWORD_MEMORY_KIB": "4"}, "LADDNAT_CHARGER_PASSWORD_MEMORY_KIB"),
        ({**SECRET, "LADDNAT_DB_POOL_SIZE": "0"}, "LADDNAT_DB_POOL_SIZE"),
        ({**SECRET, "LADDNAT_DB_MAX_OVERFLOW": "-1"}, "LADDNAT_DB_MAX_OVERFLOW"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], names: str) -> None:
    with pytest.raises(SettingsError) as err:
        Settings.from_env(env)
    assert names in str(err.value)
    assert "\n" not in str(err.value)


def test_tls_needs_cert_and_key(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    with pytest.raises(SettingsError, match="together"):
        Settings.from_env({**SECRET, "LADDNAT_OCPP_TLS_CERT": str(cert)})
    s = Settings.from_env({**SECRET, "LADDNAT_OCPP_TLS_CERT": str(cert), "LADDNAT_OCPP_TLS_KEY": str(cert)})
    assert s.ocpp.tls_enabled


def test_mail_goes_to_smtp_when_configured_and_the_log_otherwise() -> None:
    from app.notify.mail import LogMailer, SmtpMailer, create_mailer

    base = {"LADDNAT_SECRET_KEY": "x" * 32}
    assert isinstance(create_mailer(Settings.from_env(base).mail), LogMailer)
    mail = Settings.from_env(
        {**base, "LADDNAT_SMTP_URL": "smtp://user:p%40ss@mail.example:587?starttls=true", "LADDNAT_MAIL_FROM": "a@b.c"}
    ).mail
    mailer = create_mailer(mail)
    assert isinstance(mailer, SmtpMailer) and mail.from_address == "a@b.c"
    assert (mailer.hostname, mailer.port, mailer.username, mailer.password) == ("mail.example", 587, "user", "p@ss")
    assert mailer.start_tls and not mailer.use_tls
    with pytest.raises(SettingsError, match="LADDNAT_SMTP_URL"):
        Settings.from_env({**base, "LADDNAT_SMTP_URL": "mail.example:25"})


def test_the_database_pool_is_a_setting() -> None:
    settings = Settings.from_env({**SECRET, "LADDNAT_DB_POOL_SIZE": "4", "LADDNAT_DB_MAX_OVERFLOW": "0"})
    assert (settings.db.pool_size, settings.db.max_overflow) == (4, 0)
    assert (Settings.from_env(SECRET).db.pool_size, Settings.from_env(SECRET).db.max_overflow) == (20, 10)
