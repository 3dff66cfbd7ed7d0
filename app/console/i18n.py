"""The console's two languages, English and Swedish: every text a page shows goes through
``t("key")``.

The common texts (layout, sign-in, overview) are here; a page module adds its own with
``add_texts(en={...}, sv={...})`` at import time, keys prefixed with its area
(``"incidents.title"``), so the pages never edit one shared dict. A key missing in
Swedish falls back to English, and a missing key shows as itself (tests/unit/console
checks that both catalogues hold the same keys).

The language: the ``lang`` cookie (set by the switch in the header), else the browser's
Accept-Language, else English.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from app.tariffs.pricing import format_minor

LANGUAGES = ("en", "sv")
DEFAULT_LANGUAGE = "en"
LANG_COOKIE = "lang"

EN: dict[str, str] = {
    "app.name": "Laddnät console",
    "skip": "Skip to the main content",
    "nav.label": "Console",
    "nav.overview": "Overview",
    "nav.chargers": "Chargers",
    "nav.incidents": "Incidents",
    "nav.money": "Money",
    "nav.uptime": "Uptime",
    "nav.settings": "Settings",
    "header.signed_in_as": "Signed in as {user}",
    "header.role": "Role: {role}",
    "header.tenant": "Operator",
    "header.language": "Language",
    "sign_out": "Sign out",
    "role.admin": "Administrator",
    "role.operations": "Operations",
    "role.finance": "Finance",
    "role.read_only": "Read only",
    "sign_in.title": "Sign in",
    "sign_in.intro": "Sign in with your operator account.",
    "sign_in.email": "Email",
    "sign_in.password": "Password",
    "sign_in.submit": "Sign in",
    "sign_in.failed": "Wrong email or password, or the account cannot use the console.",
    "sign_in.rate_limited": "Too many attempts. Try again in {seconds} seconds.",
    "sign_in.expired": "Your session has ended. Sign in again.",
    "sign_in.signed_out": "You have signed out.",
    "chart.data": "the figures as a table",
    "error.title": "Something went wrong",
    "error.forbidden": "Your role may not do this.",
    "error.not_found": "There is no such page.",
    "error.back": "Back to the overview",
    "overview.title": "Network overview",
    "overview.map": "Map of locations",
    "overview.map_no_tiles": "Map tiles are off or unreachable: the locations are drawn by their coordinates.",
    "overview.locations": "Locations",
    "overview.location_item": "{name}, {city}: {worst}",
    "overview.no_location_position": "no coordinates",
    "overview.counts": "The network now",
    "overview.online": "Chargers online",
    "overview.offline": "Chargers offline",
    "overview.faulted": "Chargers faulted",
    "overview.sessions_running": "Sessions running",
    "overview.energy_today": "Energy today",
    "overview.revenue_today": "Revenue today",
    "overview.live": "Updates live",
    "overview.no_locations": "No locations yet.",
    "health.ok": "no open incident",
    "health.info": "open incident (info)",
    "health.warning": "open incident (warning)",
    "health.critical": "open incident (critical)",
    "chargers.title": "Chargers",
    "chargers.search": "Search chargers",
    "chargers.search_hint": "Identity, location, vendor or model",
    "chargers.search_submit": "Search",
    "chargers.identity": "Charger",
    "chargers.location": "Location",
    "chargers.model": "Vendor and model",
    "chargers.status": "Status",
    "chargers.none": "No chargers match.",
    "chargers.count.one": "{count} charger",
    "chargers.count.other": "{count} chargers",
    "chargers.register": "Register a charger",
    "chargers.field.identity": "OCPP identity",
    "chargers.field.password": "Charger password",
    "chargers.field.password_hint": "16 to 40 random characters; the charger sends it with HTTP Basic auth.",
    "chargers.field.location": "Location",
    "chargers.field.no_location": "No location yet",
    "chargers.field.evses": "Number of EVSEs",
    "chargers.register_submit": "Register",
    "chargers.registered": "{identity} is registered: it may now connect.",
    "chargers.error.form": "Check the form: the location or the number of EVSEs is not valid.",
    "chargers.error.identity": "The identity is 1 to 48 letters A-Z, digits and . _ ~ * - only.",
    "chargers.error.password": "The password is too weak or predictable: use 16 to 40 random characters.",
    "chargers.error.exists": "A charger with this identity is already registered.",
    "chargers.error.location": "There is no such location.",
    "status.online": "Online",
    "status.offline": "Offline",
    "status.faulted": "Faulted",
    "status.charging": "Charging",
    "status.unavailable": "Unavailable",
}

SV: dict[str, str] = {
    "app.name": "Laddnät konsol",
    "skip": "Hoppa till huvudinnehållet",
    "nav.label": "Konsol",
    "nav.overview": "Översikt",
    "nav.chargers": "Laddare",
    "nav.incidents": "Incidenter",
    "nav.money": "Pengar",
    "nav.uptime": "Drifttid",
    "nav.settings": "Inställningar",
    "header.signed_in_as": "Inloggad som {user}",
    "header.role": "Roll: {role}",
    "header.tenant": "Operatör",
    "header.language": "Språk",
    "sign_out": "Logga ut",
    "role.admin": "Administratör",
    "role.operations": "Drift",
    "role.finance": "Ekonomi",
    "role.read_only": "Endast läsning",
    "sign_in.title": "Logga in",
    "sign_in.intro": "Logga in med ditt operatörskonto.",
    "sign_in.email": "E-post",
    "sign_in.password": "Lösenord",
    "sign_in.submit": "Logga in",
    "sign_in.failed": "Fel e-post eller lösenord, eller så kan kontot inte använda konsolen.",
    "sign_in.rate_limited": "För många försök. Försök igen om {seconds} sekunder.",
    "sign_in.expired": "Din session har upphört. Logga in igen.",
    "sign_in.signed_out": "Du har loggat ut.",
    "chart.data": "siffrorna som tabell",
    "error.title": "Något gick fel",
    "error.forbidden": "Din roll får inte göra detta.",
    "error.not_found": "Sidan finns inte.",
    "error.back": "Tillbaka till översikten",
    "overview.title": "Nätöversikt",
    "overview.map": "Karta över platser",
    "overview.map_no_tiles": "Kartbilderna är avstängda eller onåbara: platserna ritas efter sina koordinater.",
    "overview.locations": "Platser",
    "overview.location_item": "{name}, {city}: {worst}",
    "overview.no_location_position": "inga koordinater",
    "overview.counts": "Nätet just nu",
    "overview.online": "Laddare anslutna",
    "overview.offline": "Laddare frånkopplade",
    "overview.faulted": "Laddare med fel",
    "overview.sessions_running": "Pågående laddningar",
    "overview.energy_today": "Energi i dag",
    "overview.revenue_today": "Intäkter i dag",
    "overview.live": "Uppdateras direkt",
    "overview.no_locations": "Inga platser än.",
    "health.ok": "ingen öppen incident",
    "health.info": "öppen incident (info)",
    "health.warning": "öppen incident (varning)",
    "health.critical": "öppen incident (kritisk)",
    "chargers.title": "Laddare",
    "chargers.search": "Sök laddare",
    "chargers.search_hint": "Identitet, plats, tillverkare eller modell",
    "chargers.search_submit": "Sök",
    "chargers.identity": "Laddare",
    "chargers.location": "Plats",
    "chargers.model": "Tillverkare och modell",
    "chargers.status": "Status",
    "chargers.none": "Inga laddare matchar.",
    "chargers.count.one": "{count} laddare",
    "chargers.count.other": "{count} laddare",
    "chargers.register": "Registrera en laddare",
    "chargers.field.identity": "OCPP-identitet",
    "chargers.field.password": "Laddarens lösenord",
    "chargers.field.password_hint": "16 till 40 slumpmässiga tecken; laddaren skickar det med HTTP Basic-inloggning.",
    "chargers.field.location": "Plats",
    "chargers.field.no_location": "Ingen plats än",
    "chargers.field.evses": "Antal EVSE:er",
    "chargers.register_submit": "Registrera",
    "chargers.registered": "{identity} är registrerad: den kan nu ansluta.",
    "chargers.error.form": "Kontrollera formuläret: platsen eller antalet EVSE:er är ogiltigt.",
    "chargers.error.identity": "Identiteten är 1 till 48 tecken: bokstäverna A-Z, siffror och . _ ~ * -.",
    "chargers.error.password": "Lösenordet är för svagt eller förutsägbart: använd 16 till 40 slumpmässiga tecken.",
    "chargers.error.exists": "En laddare med den identiteten är redan registrerad.",
    "chargers.error.location": "Platsen finns inte.",
    "status.online": "Ansluten",
    "status.offline": "Frånkopplad",
    "status.faulted": "Fel",
    "status.charging": "Laddar",
    "status.unavailable": "Ur drift",
}

CATALOGUES: dict[str, dict[str, str]] = {"en": EN, "sv": SV}


def add_texts(*, en: dict[str, str], sv: dict[str, str]) -> None:
    """A page module's own texts (call at import time); a key may be added once only."""
    taken = (en.keys() | sv.keys()) & (EN.keys() | SV.keys())
    if taken:
        raise ValueError(f"console texts defined twice: {', '.join(sorted(taken))}")
    EN.update(en)
    SV.update(sv)


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    """The ``lang`` cookie if it names one of ours, else the best of Accept-Language by
    q-value (``sv-SE`` counts as ``sv``), else English."""
    if cookie in LANGUAGES:
        return cookie
    best, best_q = DEFAULT_LANGUAGE, 0.0
    for item in (accept_language or "").split(","):
        tag, _, params = item.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and q > best_q:  # equal q: the browser's earlier choice stays
            best, best_q = primary, q
    return best


class Translator:
    """``t("key", name=...)``: the text in this language; numbers, money and times too."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE

    def __call__(self, key: str, **values: object) -> str:
        text = CATALOGUES[self.lang].get(key) or EN.get(key) or key
        return text.format(**values) if values else text

    def plural(self, key: str, count: int, **values: object) -> str:
        """``key.one`` for 1, else ``key.other`` (both languages need no more forms)."""
        return self(f"{key}.{'one' if count == 1 else 'other'}", count=count, **values)

    def number(self, value: float, decimals: int = 0) -> str:
        text = f"{value:,.{decimals}f}"
        if self.lang == "sv":  # 12 345,6: a (non-breaking) space for thousands, a decimal comma
            text = text.replace(",", "\u00a0").replace(".", ",")
        return text

    def money(self, amount_minor: int, currency: str) -> str:
        text = format_minor(amount_minor, currency)
        return text.replace(".", ",") if self.lang == "sv" else text

    def energy(self, wh: float) -> str:
        return f"{self.number(wh / 1000, 1)} kWh"

    def time(self, at: datetime | None, zone: str = "UTC") -> str:
        if at is None:
            return "–"
        return at.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")
