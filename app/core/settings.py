"""One frozen Settings object, built once at start-up from ``LADDNAT_*`` variables.

No other module reads ``os.environ``: tests build their own Settings.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import overload

from app.core.event_loop import ASYNCIO, EVENT_LOOPS, UVLOOP, default_event_loop, uvloop_installed


class SettingsError(ValueError):
    """A setting is missing or malformed; the message is one line naming the variable."""


DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./var/laddnat.sqlite3"
CHARGER_PASSWORD_TIME_COST, CHARGER_PASSWORD_MEMORY_KIB = 1, 2048
Getter = Callable[[str, str | None], str | None]


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    url: str = DEFAULT_DATABASE_URL
    echo: bool = False
    # PostgreSQL connections per process: kept open, and opened beyond that under a burst.
    # Every process has its own pool, so the sum over processes must fit the server's
    # max_connections (docs/operations.md). SQLite always uses one connection.
    pool_size: int = 20
    max_overflow: int = 10

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    """Who may read ``/metrics``: on the API's and the bridge's port, whoever sends
    ``Authorization: Bearer <token>`` (without a token configured, nobody: 404). With a
    bind, a listener of its own on ``bind_host:bind_port`` serves it without a token (put it
    on a private interface)."""

    token: str | None = None
    bind_host: str | None = None
    bind_port: int | None = None


@dataclass(frozen=True, slots=True)
class HttpSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    public_base_url: str = "http://127.0.0.1:8000"
    # Diagnostics uploads from chargers (unauthenticated but for the URL's token) received
    # at once; more answer 503 with Retry-After, so a flood cannot hold the API's memory.
    max_concurrent_uploads: int = 4


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    # Operators' webhook URLs may name loopback, private, link-local ... addresses (and
    # host names resolving to them). Off: a tenant could probe our internal network.
    # Tests and a receiver on the developer's own machine turn it on.
    allow_private_targets: bool = False


@dataclass(frozen=True, slots=True)
class OcpiSettings:
    """Roaming (OCPI 2.2.1, app/roaming). The interface lives at {public_base_url}/ocpi."""

    # Partners' URLs (their versions, modules, response_url) may name non-public addresses.
    # Off: a partner's credentials could point our pushes into our own network. Tests and a
    # partner on the developer's machine turn it on.
    allow_private_partners: bool = False
    # A real-time authorisation at the eMSP waits this long; then the documented fallback.
    authorize_timeout_s: float = 5.0
    # Any call to a partner (pushes, registration) gives up after this long.
    partner_timeout_s: float = 10.0
    # The largest page a GET list answers (a partner asking for more gets this many).
    max_page_limit: int = 100
    # A running roaming session is PATCHed to its eMSP at most this often (its start and
    # its end always go at once).
    session_update_interval_s: float = 60.0


@dataclass(frozen=True, slots=True)
class OcppSettings:
    host: str = "127.0.0.1"
    port: int = 9000
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    heartbeat_interval_s: int = 300
    max_frame_bytes: int = 64 * 1024
    # A charger that sends more than this many calls per second is throttled
    # (its own messages wait), so one flood never starves the others.
    max_calls_per_s: float = 50.0
    # Check every reply against the official response schema before sending. The test
    # suite turns it on (and checks replies client-side too); it costs ~10% of throughput.
    validate_replies: bool = False
    # How long a command waits for the charger's answer (queue time included).
    command_timeout_s: float = 30.0
    # After an accepted boot, push the configuration profile below to the charger.
    push_boot_config: bool = True
    meter_sample_interval_s: int = 60
    # Frequency: the supply detector's (a grid outside 49.5-50.5 Hz); without it asked for,
    # chargers that do not volunteer it could never show a frequency fault.
    sampled_measurands: tuple[str, ...] = (
        "Energy.Active.Import.Register",
        "Power.Active.Import",
        "Current.Import",
        "Voltage",
        "SoC",
        "Frequency",
    )
    # 1.6 only: the body temperature the overheating and anomaly detectors read (2.0.1 has
    # no Temperature measurand; it reports temperatures as monitoring events).
    sampled_measurands_v16_extra: tuple[str, ...] = ("Temperature",)
    # /metrics on the bridge's port: the same as Settings.metrics (the bridge gets only these).
    metrics: MetricsSettings = field(default_factory=MetricsSettings)

    @property
    def tls_enabled(self) -> bool:
        return self.tls_cert_file is not None


# A node id goes into metrics labels and, on NATS, into subject names: no dots or spaces.
NODE_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """``laddnat worker``'s own small HTTP listener: /healthz, /readyz, /metrics only."""

    http_host: str = "127.0.0.1"
    http_port: int = 8100


def default_node_id() -> str:
    """This process among many: host name and pid (LADDNAT_NODE_ID names it instead)."""
    host = re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname())[:48] or "node"
    return f"{host}-{os.getpid()}"


@dataclass(frozen=True, slots=True)
class BusSettings:
    url: str | None = None  # None: in-process; nats://host:port: NATS JetStream
    # This process in the command registry (which node holds which charger): unique per process.
    node_id: str | None = None  # None: host-pid

    @property
    def node(self) -> str:
        """This process's node id: ``node_id``, else host-pid (the same all its life)."""
        return self.node_id or default_node_id()


@dataclass(frozen=True, slots=True)
class AuthSettings:
    secret_key: str = ""
    issuer: str = "laddnat"
    audience: str = "laddnat-api"
    access_token_ttl_s: int = 900
    refresh_token_ttl_s: int = 30 * 24 * 3600
    # argon2id cost of users' password hashes (people choose weak passwords); None: the
    # argon2-cffi default (RFC 9106 low-memory profile: 3 passes over 64 MiB, 4 lanes).
    # Only the test suite lowers it. A hash keeps its own parameters, so a change applies
    # to new hashes and every stored one still verifies.
    password_time_cost: int | None = None
    password_memory_kib: int | None = None
    # Charger passwords are machine-generated, 16-40 random characters (OCPP security
    # profile 2): a light cost is ample, and a city's reconnect storm stays cheap.
    charger_password_time_cost: int = CHARGER_PASSWORD_TIME_COST
    charger_password_memory_kib: int = CHARGER_PASSWORD_MEMORY_KIB


@dataclass(frozen=True, slots=True)
class StripeSettings:
    secret_key: str
    webhook_secret: str
    publishable_key: str = ""
    # None: api.stripe.com. Tests point it at localstripe on loopback.
    api_base: str | None = None
    # Stripe.js, loaded by the web checkout (it must come from Stripe: PCI). Tests point it
    # at localstripe's fake (``{localstripe}/js.stripe.com/v3/``) on loopback.
    js_url: str = "https://js.stripe.com/v3/"


@dataclass(frozen=True, slots=True)
class AdyenSettings:
    api_key: str
    merchant_account: str
    hmac_key: str  # hex, from the webhook's configuration in the Customer Area
    client_key: str = ""
    environment: str = "test"  # test | live
    live_url_prefix: str = ""  # live only: the [random]-[company] prefix Adyen assigns
    # Overrides of the Checkout API and report download base URLs (tests: a fake on loopback).
    checkout_url: str | None = None
    report_url: str | None = None


@dataclass(frozen=True, slots=True)
class PaymentSettings:
    stripe: StripeSettings | None = None
    adyen: AdyenSettings | None = None
    # The PSP of operators not named in ``provider_by_operator``; None: the one configured.
    default_provider: str | None = None
    # "SE*LAD" (country code * party id) -> "stripe" | "adyen".
    provider_by_operator: Mapping[str, str] = field(default_factory=dict)
    # A notification whose signature is older than this is refused (Stripe's own default).
    webhook_tolerance_s: int = 300
    # A held payment whose charger has not started a session by then is released.
    start_timeout_s: float = 180.0
    # How often the payment sweeper retries what events could not finish.
    sweep_interval_s: float = 10.0
    # A running paid session's cost is checked against its hold at most this often; it is
    # stopped when the cost so far plus ``stop_lookahead_s`` more at the current power (or
    # 2 % of the hold, whichever is more) reaches the hold: two meter intervals of 60 s.
    hold_check_interval_s: float = 5.0
    stop_lookahead_s: float = 120.0

    def provider_for(self, operator_key: str) -> str | None:
        """The PSP that takes payments for an operator ("SE*LAD"), or None: none configured."""
        name = self.provider_by_operator.get(operator_key) or self.default_provider
        if name is None:
            name = "stripe" if self.stripe is not None else "adyen" if self.adyen is not None else None
        return name


@dataclass(frozen=True, slots=True)
class ConsoleSettings:
    """The operator console (app/console): its sign-in sessions and its map."""

    # A session unused this long ends (sign in again); every session ends after absolute_timeout_s.
    idle_timeout_s: int = 1800
    absolute_timeout_s: int = 12 * 3600
    # Secure cookies (and the __Host- name) whatever the request's scheme; False: only when
    # the request came over https (or public_base_url is https).
    secure_cookies: bool = False
    # Leaflet tile URL template; "" draws the map without tiles (a plain coordinate plot).
    tile_url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    tile_attribution: str = "© OpenStreetMap contributors"


@dataclass(frozen=True, slots=True)
class MailSettings:
    # smtp://user:pass@host:587?starttls=true or smtps://host:465; None: to the log.
    smtp_url: str | None = None
    from_address: str = "Laddnät <no-reply@laddnat.invalid>"


@dataclass(frozen=True, slots=True)
class HealthSettings:
    """Fault detection thresholds (``LADDNAT_HEALTH_*``); see app/health/detectors/."""

    enabled: bool = True
    # Offline: silent for 2 heartbeat intervals + this, or the socket closed and not back
    # within this. The heartbeat interval is the one the bridge gives chargers.
    offline_grace_s: float = 5.0
    # A charger told to reset (Reset accepted) has this long to close its socket and come
    # back before it counts as offline, and its next boot is not a boot-loop boot.
    reboot_grace_s: float = 180.0
    # A charger whose socket closed and came back within this is a blip, not an outage
    # (real chargers drop and reopen sockets all the time). Unset: one heartbeat interval
    # plus offline_grace_s; never longer than the silent threshold. An announced reboot
    # (a Reset we sent, a firmware update Installing) has reboot_grace_s instead.
    reconnect_grace_s: float | None = None
    # Site correlation: at least this many chargers and this share of a location's chargers
    # with the same trouble within the window make one site incident.
    site_window_s: float = 5.0
    site_min_chargers: int = 2
    site_min_share: float = 0.5
    # Fleet correlation (app/health/fleet.py): at least this many of one tenant's chargers of
    # one vendor, model and firmware, and this share of them, with the same trouble (raised,
    # or raised within the window), on two sites or more, make one fleet incident, once at
    # least fleet_min_raised of them are in trouble at the same time (faults that each
    # charger's own playbook healed, one after another, stay the chargers' own).
    fleet_window_s: float = 24 * 3600.0
    fleet_min_chargers: int = 3
    fleet_min_share: float = 0.3
    fleet_min_raised: int = 2
    # Overheating: over the limit, or rising faster than this while the load is low.
    temperature_limit_c: float = 70.0
    temperature_clear_c: float = 60.0
    temperature_rise_c_per_min: float = 5.0
    temperature_rise_low_load_w: float = 2_000.0
    # Supply: nominal voltage +-10 % (EN 50160), frequency 49.5..50.5 Hz.
    voltage_min_v: float = 207.0
    voltage_max_v: float = 253.0
    frequency_min_hz: float = 49.5
    frequency_max_hz: float = 50.5
    # A phase counts as lost under this while another phase is in band.
    phase_lost_v: float = 50.0
    # Samples in a row a supply or thermal value must be out (or back in) before it counts.
    supply_samples: int = 2
    # Low power: a session drawing under this share of the lower of the charger's limit
    # (rating, Power.Offered) and the most this car drew before, for this long, with the
    # battery under this SoC (above it cars taper); clears at the clear share.
    low_power_share: float = 0.5
    low_power_clear_share: float = 0.8
    low_power_s: float = 300.0
    low_power_soc_max: float = 60.0
    low_power_min_expected_w: float = 3_000.0
    # Metering: charging at least this power while the register does not move, for this many samples.
    stuck_power_w: float = 500.0
    stuck_samples: int = 3
    # The register moving without a transaction by more than this is "energy while idle".
    idle_energy_wh: float = 50.0
    # Energy over the interval vs power x time: outside this ratio they disagree.
    energy_power_ratio_max: float = 2.0
    # Failed starts: this many sessions in a row shorter than / below these.
    short_session_s: float = 60.0
    short_session_wh: float = 10.0
    short_session_run: int = 3
    # Failed starts: this many accepted remote starts in a row that did not become a
    # transaction within the timeout (the charger's connection timeout, plus margin).
    remote_start_timeout_s: float = 180.0
    failed_remote_starts: int = 2
    # Failed starts: this many refused Authorize requests for at least this many different
    # cards on one charger within the window (its reader misreads them); an accepted card
    # ends it. One driver's blocked card, tried again and again, is not the charger.
    auth_refusals: int = 5
    auth_refused_tokens: int = 3
    auth_refusal_window_s: float = 900.0
    # Vehicle communication: this many EV-side early ends by different tokens within the window.
    ev_side_stops: int = 3
    ev_side_window_s: float = 6 * 3600.0
    # A connector Faulted with no error code (2.0.1: no NotifyEvent naming the part) waits
    # this long for the event that explains it before it counts as an unexplained fault.
    unexplained_fault_wait_s: float = 5.0
    # Boot loop: this many BootNotifications within the window.
    boot_loop_count: int = 3
    boot_loop_window_s: float = 600.0
    # Anomalies (app/health/detectors/anomaly.py): each charger against its own history.
    anomaly_enabled: bool = True
    # A feature this many of the charger's own standard deviations off its usual is anomalous...
    anomaly_threshold: float = 6.0
    # ... and back to normal under this many (hysteresis).
    anomaly_clear_threshold: float = 3.0
    # Readings (sessions) in a row over the threshold to raise, under the clear one to clear.
    anomaly_samples: int = 3
    # Readings a feature needs in a state before it is scored (sessions: for session outcomes).
    anomaly_warmup_samples: int = 240
    anomaly_warmup_sessions: int = 20
    # After this many newer readings (sessions) an old one counts half.
    anomaly_halflife_samples: int = 1000
    anomaly_halflife_sessions: int = 100
    # The no-load temperature follows the weather faster: its half-life in readings.
    anomaly_thermal_halflife_samples: int = 60
    # The monitor saves changed baselines (health_baselines) this often, and on shutdown.
    anomaly_save_interval_s: float = 300.0
    # Incidents: a re-opening within this of resolution re-opens the same one (a flap); a
    # clear resolves only after the condition has been clear this long.
    flap_window_s: float = 600.0
    clear_hold_s: float = 0.0
    tick_interval_s: float = 1.0
    # Self-healing (app/health/playbooks/): run each cause's playbook; a step has this long
    # to heal before the next; at most this many resets per charger a day; a reset waits
    # this long for a running session to end.
    self_healing: bool = True
    # Diagnostics: an incident the charger itself may explain (not offline, not the grid)
    # asks it for its diagnostics / log upload first and attaches the file; the playbook's
    # first reset waits this long for the upload (a reset can cut it off).
    collect_diagnostics: bool = True
    diagnostics_wait_s: float = 60.0
    playbook_verify_s: float = 90.0
    max_resets_per_day: int = 3
    reset_wait_for_idle_s: float = 600.0
    # Before a playbook takes an EVSE out of service it asks the charger for fresh readings
    # and status and waits this long: the incident must still be open on that second look.
    out_of_service_recheck_s: float = 30.0


@dataclass(frozen=True, slots=True)
class Settings:
    db: DatabaseSettings = field(default_factory=DatabaseSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    ocpp: OcppSettings = field(default_factory=OcppSettings)
    bus: BusSettings = field(default_factory=BusSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    payments: PaymentSettings = field(default_factory=PaymentSettings)
    mail: MailSettings = field(default_factory=MailSettings)
    health: HealthSettings = field(default_factory=HealthSettings)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
    ocpi: OcpiSettings = field(default_factory=OcpiSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    log_level: str = "INFO"
    event_loop: str = field(default_factory=default_event_loop)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, dev: bool = False) -> Settings:
        """Read ``LADDNAT_*`` variables.

        ``dev`` allows a missing secret key (a fixed development key is used, and said
        so); everything else (api, bridge) requires ``LADDNAT_SECRET_KEY``.
        """
        e = os.environ if env is None else env

        def get(name: str, default: str | None = None) -> str | None:
            value = e.get(name)
            return default if value is None or value == "" else value

        def port(name: str, default: int) -> int:
            raw = get(name, str(default))
            try:
                value = int(raw or "")
            except ValueError:
                raise SettingsError(f"{name}={raw!r} is not a port number") from None
            if not 0 < value < 65536:
                raise SettingsError(f"{name}={value} is outside 1..65535")
            return value

        def non_negative_int(name: str, default: int) -> int:
            raw = get(name, str(default))
            try:
                value = int(raw or "")
            except ValueError:
                raise SettingsError(f"{name}={raw!r} is not an integer") from None
            if value < 0:
                raise SettingsError(f"{name}={value} must not be negative")
            return value

        def positive_int(name: str, default: int) -> int:
            raw = get(name, str(default))
            try:
                value = int(raw or "")
            except ValueError:
                raise SettingsError(f"{name}={raw!r} is not an integer") from None
            if value <= 0:
                raise SettingsError(f"{name}={value} must be positive")
            return value

        def flag(name: str, default: bool) -> bool:
            raw = (get(name, "true" if default else "false") or "").lower()
            if raw not in {"1", "0", "true", "false", "yes", "no"}:
                raise SettingsError(f"{name}={raw!r}: use true or false")
            return raw in {"1", "true", "yes"}

        def existing_file(name: str) -> Path | None:
            raw = get(name)
            if raw is None:
                return None
            path = Path(raw)
            if not path.is_file():
                raise SettingsError(f"{name}={raw!r}: no such file")
            return path

        db_url = get("LADDNAT_DATABASE_URL", DEFAULT_DATABASE_URL) or ""
        if not (db_url.startswith("sqlite+aiosqlite://") or db_url.startswith("postgresql+asyncpg://")):
            raise SettingsError(
                f"LADDNAT_DATABASE_URL={db_url!r}: use sqlite+aiosqlite:///PATH "
                "or postgresql+asyncpg://USER@HOST:PORT/DB"
            )

        bus_url = get("LADDNAT_BUS_URL")
        if bus_url == "memory://":
            bus_url = None
        if bus_url is not None and not re.fullmatch(r"(nats|tls)://[^\s/]+", bus_url):
            raise SettingsError(f"LADDNAT_BUS_URL={bus_url!r}: use nats://HOST:PORT, or leave it unset (in-process)")
        node_id = get("LADDNAT_NODE_ID")
        if node_id is not None and not NODE_ID_PATTERN.fullmatch(node_id):
            raise SettingsError(f"LADDNAT_NODE_ID={node_id!r}: use 1-64 letters, digits, - or _")

        secret = get("LADDNAT_SECRET_KEY")
        if secret is None:
            if not dev:
                raise SettingsError("LADDNAT_SECRET_KEY is required (at least 32 characters)")
            secret = "dev-only-secret-key-change-me-0000000000"
        if len(secret) < 32:
            raise SettingsError("LADDNAT_SECRET_KEY must be at least 32 characters")

        cert = existing_file("LADDNAT_OCPP_TLS_CERT")
        key = existing_file("LADDNAT_OCPP_TLS_KEY")
        if (cert is None) != (key is None):
            raise SettingsError("LADDNAT_OCPP_TLS_CERT and LADDNAT_OCPP_TLS_KEY must be set together")

        log_level = (get("LADDNAT_LOG_LEVEL", "INFO") or "INFO").upper()
        if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise SettingsError(f"LADDNAT_LOG_LEVEL={log_level!r}: use DEBUG, INFO, WARNING or ERROR")

        event_loop = get("LADDNAT_EVENT_LOOP", default_event_loop()) or ASYNCIO
        if event_loop not in EVENT_LOOPS:
            raise SettingsError(f"LADDNAT_EVENT_LOOP={event_loop!r}: use uvloop or asyncio")
        if event_loop == UVLOOP and not uvloop_installed():
            raise SettingsError("LADDNAT_EVENT_LOOP=uvloop, but uvloop is not installed")

        payments = _payment_settings(get, positive_int)

        http_host = get("LADDNAT_HTTP_HOST", "127.0.0.1") or "127.0.0.1"
        http_port = port("LADDNAT_HTTP_PORT", 8000)
        metrics = _metrics_settings(get)
        return cls(
            db=DatabaseSettings(
                url=db_url,
                pool_size=positive_int("LADDNAT_DB_POOL_SIZE", 20),
                max_overflow=non_negative_int("LADDNAT_DB_MAX_OVERFLOW", 10),
            ),
            http=HttpSettings(
                host=http_host,
                port=http_port,
                public_base_url=(get("LADDNAT_PUBLIC_BASE_URL", f"http://{http_host}:{http_port}") or "").rstrip("/"),
                max_concurrent_uploads=positive_int("LADDNAT_DIAGNOSTICS_MAX_CONCURRENT_UPLOADS", 4),
            ),
            ocpp=OcppSettings(
                host=get("LADDNAT_OCPP_HOST", "127.0.0.1") or "127.0.0.1",
                port=port("LADDNAT_OCPP_PORT", 9000),
                tls_cert_file=cert,
                tls_key_file=key,
                heartbeat_interval_s=positive_int("LADDNAT_HEARTBEAT_INTERVAL_S", 300),
                max_frame_bytes=positive_int("LADDNAT_OCPP_MAX_FRAME_BYTES", 64 * 1024),
                command_timeout_s=float(positive_int("LADDNAT_COMMAND_TIMEOUT_S", 30)),
                push_boot_config=flag("LADDNAT_PUSH_BOOT_CONFIG", True),
                meter_sample_interval_s=positive_int("LADDNAT_METER_SAMPLE_INTERVAL_S", 60),
                metrics=metrics,
            ),
            bus=BusSettings(url=bus_url, node_id=node_id),
            auth=AuthSettings(
                secret_key=secret,
                access_token_ttl_s=positive_int("LADDNAT_ACCESS_TOKEN_TTL_S", 900),
                refresh_token_ttl_s=positive_int("LADDNAT_REFRESH_TOKEN_TTL_S", 30 * 24 * 3600),
                # argon2 needs 8 KiB per lane: users' hashes use the library's 4 lanes, chargers' 1.
                password_time_cost=_argon2_cost(get, "LADDNAT_PASSWORD_TIME_COST", 1),
                password_memory_kib=_argon2_cost(get, "LADDNAT_PASSWORD_MEMORY_KIB", 8 * 4),
                charger_password_time_cost=_argon2_cost(
                    get, "LADDNAT_CHARGER_PASSWORD_TIME_COST", 1, CHARGER_PASSWORD_TIME_COST
                ),
                charger_password_memory_kib=_argon2_cost(
                    get, "LADDNAT_CHARGER_PASSWORD_MEMORY_KIB", 8, CHARGER_PASSWORD_MEMORY_KIB
                ),
            ),
            payments=payments,
            mail=_mail_settings(get),
            health=_health_settings(get, flag),
            webhooks=WebhookSettings(allow_private_targets=flag("LADDNAT_WEBHOOKS_ALLOW_PRIVATE_TARGETS", False)),
            ocpi=OcpiSettings(
                allow_private_partners=flag("LADDNAT_OCPI_ALLOW_PRIVATE_PARTNERS", False),
                authorize_timeout_s=float(positive_int("LADDNAT_OCPI_AUTHORIZE_TIMEOUT_S", 5)),
                partner_timeout_s=float(positive_int("LADDNAT_OCPI_PARTNER_TIMEOUT_S", 10)),
                max_page_limit=positive_int("LADDNAT_OCPI_MAX_PAGE_LIMIT", 100),
                session_update_interval_s=float(positive_int("LADDNAT_OCPI_SESSION_UPDATE_INTERVAL_S", 60)),
            ),
            metrics=metrics,
            worker=WorkerSettings(
                http_host=get("LADDNAT_WORKER_HTTP_HOST", "127.0.0.1") or "127.0.0.1",
                http_port=port("LADDNAT_WORKER_HTTP_PORT", 8100),
            ),
            console=_console_settings(e, positive_int, flag),
            log_level=log_level,
            event_loop=event_loop,
        )


def _health_settings(get: Callable[[str, str | None], str | None], flag: Callable[[str, bool], bool]) -> HealthSettings:
    """``LADDNAT_HEALTH_<FIELD>`` overrides each threshold of HealthSettings."""
    defaults = HealthSettings()
    values: dict[str, object] = {
        "enabled": flag("LADDNAT_HEALTH_ENABLED", True),
        "self_healing": flag("LADDNAT_HEALTH_SELF_HEALING", True),
        "collect_diagnostics": flag("LADDNAT_HEALTH_COLLECT_DIAGNOSTICS", True),
        "anomaly_enabled": flag("LADDNAT_HEALTH_ANOMALY_ENABLED", True),
    }
    for name in HealthSettings.__dataclass_fields__:
        if name in values:
            continue
        var = f"LADDNAT_HEALTH_{name.upper()}"
        raw = get(var, None)
        if raw is None:
            continue
        default = getattr(defaults, name)
        try:
            value: float = int(raw) if isinstance(default, int) else float(raw)
        except ValueError:
            raise SettingsError(f"{var}={raw!r} is not a number") from None
        if value < 0:
            raise SettingsError(f"{var}={value} must not be negative")
        values[name] = value
    return HealthSettings(**values)  # type: ignore[arg-type]


@overload
def _argon2_cost(get: Getter, var: str, minimum: int, default: int) -> int: ...
@overload
def _argon2_cost(get: Getter, var: str, minimum: int, default: None = None) -> int | None: ...
def _argon2_cost(get: Getter, var: str, minimum: int, default: int | None = None) -> int | None:
    """An argon2 cost from ``var``, an integer of at least ``minimum``; ``default`` when unset."""
    raw = get(var, None)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{var}={raw!r} is not an integer") from None
    if value < minimum:
        raise SettingsError(f"{var}={value} must be at least {minimum}")
    return value


METRICS_TOKEN_MIN_CHARS = 16


def _metrics_settings(get: Getter) -> MetricsSettings:
    token = get("LADDNAT_METRICS_TOKEN", None)
    if token is not None and len(token) < METRICS_TOKEN_MIN_CHARS:
        raise SettingsError(f"LADDNAT_METRICS_TOKEN must be at least {METRICS_TOKEN_MIN_CHARS} characters")
    bind = get("LADDNAT_METRICS_BIND", None)
    if bind is None:
        return MetricsSettings(token=token)
    host, sep, raw_port = bind.rpartition(":")
    host = host.strip("[]")
    try:
        bind_port = int(raw_port)
    except ValueError:
        bind_port = 0
    if not sep or not host or not 0 < bind_port < 65536:
        raise SettingsError(f"LADDNAT_METRICS_BIND={bind!r}: use HOST:PORT, e.g. 10.0.0.5:9100")
    return MetricsSettings(token=token, bind_host=host, bind_port=bind_port)


def _console_settings(
    env: Mapping[str, str], positive_int: Callable[[str, int], int], flag: Callable[[str, bool], bool]
) -> ConsoleSettings:
    defaults = ConsoleSettings()
    # An empty LADDNAT_CONSOLE_TILE_URL means "no tiles", so it is read raw, not defaulted.
    tile_url = env.get("LADDNAT_CONSOLE_TILE_URL", defaults.tile_url).strip()
    if tile_url and not (tile_url.startswith(("https://", "http://")) and "{z}" in tile_url):
        raise SettingsError(f"LADDNAT_CONSOLE_TILE_URL={tile_url!r}: use https://HOST/{{z}}/{{x}}/{{y}}.png or empty")
    return ConsoleSettings(
        idle_timeout_s=positive_int("LADDNAT_CONSOLE_IDLE_TIMEOUT_S", defaults.idle_timeout_s),
        absolute_timeout_s=positive_int("LADDNAT_CONSOLE_ABSOLUTE_TIMEOUT_S", defaults.absolute_timeout_s),
        secure_cookies=flag("LADDNAT_CONSOLE_SECURE_COOKIES", defaults.secure_cookies),
        tile_url=tile_url,
        tile_attribution=env.get("LADDNAT_CONSOLE_TILE_ATTRIBUTION", defaults.tile_attribution),
    )


def _mail_settings(get: Callable[[str, str | None], str | None]) -> MailSettings:
    url = get("LADDNAT_SMTP_URL", None)
    if url is not None and not url.startswith(("smtp://", "smtps://")):
        raise SettingsError(f"LADDNAT_SMTP_URL={url!r}: use smtp://[user:pass@]host[:port][?starttls=true] or smtps://")
    sender = get("LADDNAT_MAIL_FROM", None)
    return MailSettings(smtp_url=url, from_address=sender) if sender else MailSettings(smtp_url=url)


def _payment_settings(
    get: Callable[[str, str | None], str | None], positive_int: Callable[[str, int], int]
) -> PaymentSettings:
    """The PSPs configured by ``LADDNAT_STRIPE_*`` / ``LADDNAT_ADYEN_*``; a PSP is on when its
    secret key is set, and then its webhook secret is required too."""
    stripe = None
    if get("LADDNAT_STRIPE_SECRET_KEY", None) is not None:
        webhook_secret = get("LADDNAT_STRIPE_WEBHOOK_SECRET", None)
        if webhook_secret is None:
            raise SettingsError("LADDNAT_STRIPE_WEBHOOK_SECRET is required when LADDNAT_STRIPE_SECRET_KEY is set")
        stripe = StripeSettings(
            secret_key=get("LADDNAT_STRIPE_SECRET_KEY", None) or "",
            webhook_secret=webhook_secret,
            publishable_key=get("LADDNAT_STRIPE_PUBLISHABLE_KEY", "") or "",
            api_base=get("LADDNAT_STRIPE_API_BASE", None),
            js_url=get("LADDNAT_STRIPE_JS_URL", "https://js.stripe.com/v3/") or "https://js.stripe.com/v3/",
        )
    adyen = None
    if get("LADDNAT_ADYEN_API_KEY", None) is not None:
        for required in ("LADDNAT_ADYEN_MERCHANT_ACCOUNT", "LADDNAT_ADYEN_HMAC_KEY"):
            if get(required, None) is None:
                raise SettingsError(f"{required} is required when LADDNAT_ADYEN_API_KEY is set")
        hmac_key = get("LADDNAT_ADYEN_HMAC_KEY", None) or ""
        try:
            bytes.fromhex(hmac_key)
        except ValueError:
            raise SettingsError("LADDNAT_ADYEN_HMAC_KEY must be the hex key from the Customer Area") from None
        environment = (get("LADDNAT_ADYEN_ENVIRONMENT", "test") or "test").lower()
        if environment not in {"test", "live"}:
            raise SettingsError(f"LADDNAT_ADYEN_ENVIRONMENT={environment!r}: use test or live")
        prefix = get("LADDNAT_ADYEN_LIVE_URL_PREFIX", "") or ""
        if environment == "live" and not prefix:
            raise SettingsError("LADDNAT_ADYEN_LIVE_URL_PREFIX is required when LADDNAT_ADYEN_ENVIRONMENT=live")
        adyen = AdyenSettings(
            api_key=get("LADDNAT_ADYEN_API_KEY", None) or "",
            merchant_account=get("LADDNAT_ADYEN_MERCHANT_ACCOUNT", None) or "",
            hmac_key=hmac_key,
            client_key=get("LADDNAT_ADYEN_CLIENT_KEY", "") or "",
            environment=environment,
            live_url_prefix=prefix,
            checkout_url=get("LADDNAT_ADYEN_CHECKOUT_URL", None),
            report_url=get("LADDNAT_ADYEN_REPORT_URL", None),
        )
    configured = {"stripe": stripe, "adyen": adyen}

    def provider(name: str, raw: str) -> str:
        value = raw.strip().lower()
        if value not in configured:
            raise SettingsError(f"{name}: {raw!r} is not a payment provider (stripe or adyen)")
        if configured[value] is None:
            raise SettingsError(f"{name}: {value} is chosen but LADDNAT_{value.upper()}_* is not configured")
        return value

    default = get("LADDNAT_PAYMENT_PROVIDER", None)
    by_operator: dict[str, str] = {}
    for item in filter(None, (get("LADDNAT_PAYMENT_PROVIDERS", "") or "").split(",")):
        key, sep, value = item.partition("=")
        if not sep or len(key.strip()) != 6 or key.strip()[2] != "*":
            raise SettingsError(f"LADDNAT_PAYMENT_PROVIDERS: {item!r} is not OPERATOR=PROVIDER (e.g. SE*LAD=adyen)")
        by_operator[key.strip().upper()] = provider("LADDNAT_PAYMENT_PROVIDERS", value)
    return PaymentSettings(
        stripe=stripe,
        adyen=adyen,
        default_provider=provider("LADDNAT_PAYMENT_PROVIDER", default) if default is not None else None,
        provider_by_operator=by_operator,
        webhook_tolerance_s=positive_int("LADDNAT_PAYMENT_WEBHOOK_TOLERANCE_S", 300),
        start_timeout_s=float(positive_int("LADDNAT_PAYMENT_START_TIMEOUT_S", 180)),
        sweep_interval_s=float(positive_int("LADDNAT_PAYMENT_SWEEP_INTERVAL_S", 10)),
    )
