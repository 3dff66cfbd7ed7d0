"""The checkout's two languages: English and Swedish, chosen from the browser's Accept-Language.

A catalogue is a plain dict; a missing Swedish text falls back to English, so a new string
never shows as a key. Money, energy and time are formatted here too, per language
(Swedish: decimal comma, "kr" stays the ISO code on purpose, as on the receipt).
"""

from __future__ import annotations

from app.health.words import DRIVER_WORDS
from app.tariffs.pricing import TariffTerms, format_minor

LANGUAGES = ("en", "sv")
DEFAULT_LANGUAGE = "en"

EN: dict[str, str] = {
    "title": "Charge at {evse}",
    "charger": "Charger",
    "location": "Location",
    "connector": "Connector",
    "connector_text": "{standard}, {power_type}, up to {kw} kW",
    "status": "Status",
    "status.Available": "Available",
    "status.Preparing": "Ready: the cable is plugged in",
    "status.Occupied": "Cable plugged in",
    "status.Charging": "In use",
    "status.SuspendedEV": "In use",
    "status.SuspendedEVSE": "In use",
    "status.Finishing": "Finishing a session",
    "status.Reserved": "Reserved",
    "status.Unavailable": "Out of service",
    "status.Faulted": "Out of order",
    "status.Offline": "Offline",
    "status.Unknown": "Status not known yet",
    "price": "Price",
    "price.per_kwh": "{money} per kWh",
    "price.per_kwh_band": "{label}: {money} per kWh",
    "price.per_minute": "{money} per minute while charging",
    "price.per_minute_band": "{label}: {money} per minute",
    "price.session_fee": "{money} per session",
    "price.idle": "Idle fee {money} per minute after charging",
    "price.idle_grace": "Idle fee {money} per minute, from {minutes} minutes after charging ends",
    "price.min": "Minimum price {money}",
    "price.max": "Maximum price {money}",
    "price.vat": "All prices include {rate} VAT.",
    "price.free": "Free",
    "hold": "{money} is reserved on your card when you start. Only the real cost of the session is charged; the rest "
    "is released when you stop.",
    "email": "E-mail for the receipt (optional)",
    "email_hint": "Kept with the payment for your receipt, and used for nothing else.",
    "consent": "I accept the price above and that {money} is reserved on my card.",
    "continue": "Continue to payment",
    "unavailable.offline": "This charger is offline right now. No payment is taken; please try another charger.",
    "unavailable.faulted": "This charger is out of order ({detail}). No payment is taken; please try another charger.",
    "unavailable.unhealthy": "This charger is out of order: {detail} No payment is taken; please try another charger.",
    "unavailable.in_use": "This charger is in use. Please wait until it is free, or try another charger.",
    "unavailable.no_tariff": "This charger has no price set, so it cannot be paid for here.",
    "unavailable.no_payments": "Card payments are not available at this charger.",
    "error.declined": "The card was declined: {detail}",
    "error.provider": "The payment service did not answer. Nothing was charged; please try again.",
    "error.start_failed": "The charger did not start. The reservation on your card is released.",
    "error.consent": "Please accept the price to continue.",
    "error.email": "That e-mail address does not look right.",
    "error.form": "The form expired. Please try again.",
    "pay.title": "Pay",
    "pay.intro": "Pay with card, Apple Pay or Google Pay. {money} is reserved; only the real cost is charged.",
    "pay.button": "Reserve {money} and start",
    "pay.loading": "Loading the payment form…",
    "pay.failed_to_load": "The payment form did not load. Please check your connection and reload the page.",
    "link.save": "Keep this page's address: it is your link to the session, the stop button and the receipt.",
    "progress": "Progress",
    "state.pay": "Waiting for payment",
    "state.confirming": "Confirming the payment…",
    "state.starting": "Payment reserved. Starting the charger…",
    "state.charging": "Charging",
    "state.finishing": "Session ended. Preparing the receipt…",
    "state.finished": "Finished",
    "state.released": "Nothing was charged",
    "state.failed": "The payment failed",
    "step.pay": "Pay",
    "step.start": "Start",
    "step.charge": "Charge",
    "step.receipt": "Receipt",
    "power": "Power",
    "energy": "Energy",
    "elapsed": "Time",
    "cost": "Cost so far",
    "hold_short": "Reserved",
    "stop": "Stop charging",
    "stop.sent": "Stop sent to the charger.",
    "stop.failed": "The charger did not accept the stop ({detail}). Unplug the cable at the car to stop.",
    "fault.mid": "The charger reported a fault ({detail}) and stopped. You pay only for the energy delivered before "
    "it stopped.",
    "receipt": "Receipt",
    "receipt.open": "Open the printable receipt",
    "receipt.total": "Charged",
    "receipt.energy": "Energy delivered",
    "receipt.duration": "Duration",
    "receipt.released": "The rest of the reservation ({money}) is released.",
    "released.detail": "The reservation on your card is released; nothing was charged. Reason: {reason}",
    "failed.detail": "The card payment did not go through: {reason}",
    "not_found.title": "Page not found",
    "not_found.text": "There is no charger or session at this address. Check the code on the charger, or scan it "
    "again.",
    "forbidden.title": "Not allowed",
    "forbidden.text": "This request was refused (the form expired or came from another site). Go back and try again.",
    "language": "Language",
    "js_hint": "This page updates every few seconds; reload it if it does not.",
}

SV: dict[str, str] = {
    "title": "Ladda vid {evse}",
    "charger": "Laddare",
    "location": "Plats",
    "connector": "Kontakt",
    "connector_text": "{standard}, {power_type}, upp till {kw} kW",
    "status": "Status",
    "status.Available": "Ledig",
    "status.Preparing": "Redo: kabeln är ansluten",
    "status.Occupied": "Kabeln är ansluten",
    "status.Charging": "Upptagen",
    "status.SuspendedEV": "Upptagen",
    "status.SuspendedEVSE": "Upptagen",
    "status.Finishing": "Avslutar en laddning",
    "status.Reserved": "Reserverad",
    "status.Unavailable": "Ur drift",
    "status.Faulted": "Ur funktion",
    "status.Offline": "Ej ansluten",
    "status.Unknown": "Status ännu okänd",
    "price": "Pris",
    "price.per_kwh": "{money} per kWh",
    "price.per_kwh_band": "{label}: {money} per kWh",
    "price.per_minute": "{money} per minut under laddning",
    "price.per_minute_band": "{label}: {money} per minut",
    "price.session_fee": "{money} per laddning",
    "price.idle": "Blockeringsavgift {money} per minut efter laddningen",
    "price.idle_grace": "Blockeringsavgift {money} per minut, från {minutes} minuter efter att laddningen slutat",
    "price.min": "Lägsta pris {money}",
    "price.max": "Högsta pris {money}",
    "price.vat": "Alla priser inklusive {rate} moms.",
    "price.free": "Gratis",
    "hold": "{money} reserveras på ditt kort när du startar. Bara laddningens verkliga kostnad dras; resten frigörs "
    "när du avslutar.",
    "email": "E-post för kvittot (valfritt)",
    "email_hint": "Sparas med betalningen för ditt kvitto och används inte till något annat.",
    "consent": "Jag godkänner priset ovan och att {money} reserveras på mitt kort.",
    "continue": "Fortsätt till betalning",
    "unavailable.offline": "Laddaren är inte ansluten just nu. Ingen betalning tas; prova en annan laddare.",
    "unavailable.faulted": "Laddaren är ur funktion ({detail}). Ingen betalning tas; prova en annan laddare.",
    "unavailable.unhealthy": "Laddaren är ur funktion: {detail} Ingen betalning tas; prova en annan laddare.",
    "unavailable.in_use": "Laddaren används. Vänta tills den är ledig, eller prova en annan laddare.",
    "unavailable.no_tariff": "Laddaren har inget pris och kan inte betalas här.",
    "unavailable.no_payments": "Kortbetalning är inte tillgänglig vid den här laddaren.",
    "error.declined": "Kortet nekades: {detail}",
    "error.provider": "Betaltjänsten svarade inte. Inget drogs; försök igen.",
    "error.start_failed": "Laddaren startade inte. Reservationen på ditt kort är frigjord.",
    "error.consent": "Godkänn priset för att fortsätta.",
    "error.email": "E-postadressen ser inte rätt ut.",
    "error.form": "Formuläret har gått ut. Försök igen.",
    "pay.title": "Betala",
    "pay.intro": "Betala med kort, Apple Pay eller Google Pay. {money} reserveras; bara den verkliga kostnaden dras.",
    "pay.button": "Reservera {money} och starta",
    "pay.loading": "Betalformuläret laddas…",
    "pay.failed_to_load": "Betalformuläret laddades inte. Kontrollera anslutningen och ladda om sidan.",
    "link.save": "Spara sidans adress: den är din länk till laddningen, stoppknappen och kvittot.",
    "progress": "Förlopp",
    "state.pay": "Väntar på betalning",
    "state.confirming": "Bekräftar betalningen…",
    "state.starting": "Beloppet är reserverat. Laddaren startas…",
    "state.charging": "Laddar",
    "state.finishing": "Laddningen är avslutad. Kvittot förbereds…",
    "state.finished": "Klart",
    "state.released": "Inget drogs",
    "state.failed": "Betalningen misslyckades",
    "step.pay": "Betala",
    "step.start": "Start",
    "step.charge": "Ladda",
    "step.receipt": "Kvitto",
    "power": "Effekt",
    "energy": "Energi",
    "elapsed": "Tid",
    "cost": "Kostnad hittills",
    "hold_short": "Reserverat",
    "stop": "Avsluta laddningen",
    "stop.sent": "Stopp skickat till laddaren.",
    "stop.failed": "Laddaren tog inte emot stoppet ({detail}). Koppla ur kabeln vid bilen för att avsluta.",
    "fault.mid": "Laddaren rapporterade ett fel ({detail}) och stannade. Du betalar bara för energin som levererades "
    "innan dess.",
    "receipt": "Kvitto",
    "receipt.open": "Öppna kvittot för utskrift",
    "receipt.total": "Debiterat",
    "receipt.energy": "Levererad energi",
    "receipt.duration": "Tid",
    "receipt.released": "Resten av reservationen ({money}) frigörs.",
    "released.detail": "Reservationen på ditt kort är frigjord; inget drogs. Orsak: {reason}",
    "failed.detail": "Kortbetalningen gick inte igenom: {reason}",
    "not_found.title": "Sidan finns inte",
    "not_found.text": "Det finns ingen laddare eller laddning på den här adressen. Kontrollera koden på laddaren "
    "eller skanna den igen.",
    "forbidden.title": "Inte tillåtet",
    "forbidden.text": "Begäran nekades (formuläret har gått ut eller kom från en annan webbplats). Gå tillbaka och "
    "försök igen.",
    "language": "Språk",
    "js_hint": "Sidan uppdateras med några sekunders mellanrum; ladda om den om den inte gör det.",
}

# What an incident means to the driver: one text per cause, shared with the app's live stream.
for _lang, _catalogue in (("en", EN), ("sv", SV)):
    _catalogue.update({f"incident.{cause}": text for cause, text in DRIVER_WORDS[_lang].items()})

CATALOGUES = {"en": EN, "sv": SV}


def negotiate(accept_language: str | None, override: str | None = None) -> str:
    """The language to answer in: ``?lang=`` if it is one of ours, else the best of the
    browser's Accept-Language by q-value (``sv-SE`` counts as ``sv``), else English."""
    if override and override.lower()[:2] in LANGUAGES:
        return override.lower()[:2]
    best, best_q = DEFAULT_LANGUAGE, -1.0
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
        # Equal q: the earlier wins (the browser's order); q=0 means "not this one".
        if primary in LANGUAGES and q > 0 and q > best_q:
            best, best_q = primary, q
    return best


class Translator:
    """``t("key", money=...)``: the text in this language, formatted."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE
        self._texts = CATALOGUES[self.lang]

    def __call__(self, key: str, **values: object) -> str:
        text = self._texts.get(key) or EN.get(key) or key
        return text.format(**values) if values else text

    def money(self, amount_minor: int, currency: str) -> str:
        text = format_minor(amount_minor, currency)
        return text.replace(".", ",") if self.lang == "sv" else text

    def number(self, value: float, decimals: int) -> str:
        text = f"{value:.{decimals}f}"
        return text.replace(".", ",") if self.lang == "sv" else text

    def percent(self, rate_bp: int) -> str:
        whole, rest = divmod(rate_bp, 100)
        text = f"{whole}" if not rest else f"{whole}.{rest:02d}".rstrip("0")
        return f"{text.replace('.', ',')} %" if self.lang == "sv" else f"{text}%"

    def duration(self, seconds: float) -> str:
        total = max(0, int(seconds))
        hours, rest = divmod(total, 3600)
        minutes, secs = divmod(rest, 60)
        return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"

    def status(self, status: str) -> str:
        return self(f"status.{status}") if f"status.{status}" in EN else status

    def price_lines(self, terms: TariffTerms) -> list[str]:
        """The full price, one line per component, ending with the VAT line."""
        cur = terms.currency

        def money(amount: int) -> str:
            return self.money(amount, cur)

        lines: list[str] = []
        if terms.price_per_kwh_minor or any(b.price_per_kwh_minor for b in terms.bands):
            lines.append(self("price.per_kwh", money=money(terms.price_per_kwh_minor)))
            lines += [
                self("price.per_kwh_band", label=b.label, money=money(b.price_per_kwh_minor or 0))
                for b in terms.bands
                if b.price_per_kwh_minor is not None
            ]
        if terms.price_per_minute_minor or any(b.price_per_minute_minor for b in terms.bands):
            lines.append(self("price.per_minute", money=money(terms.price_per_minute_minor)))
            lines += [
                self("price.per_minute_band", label=b.label, money=money(b.price_per_minute_minor or 0))
                for b in terms.bands
                if b.price_per_minute_minor is not None
            ]
        if terms.session_fee_minor:
            lines.append(self("price.session_fee", money=money(terms.session_fee_minor)))
        if terms.idle_fee_per_minute_minor:
            if terms.idle_grace_minutes:
                idle = money(terms.idle_fee_per_minute_minor)
                lines.append(self("price.idle_grace", money=idle, minutes=terms.idle_grace_minutes))
            else:
                lines.append(self("price.idle", money=money(terms.idle_fee_per_minute_minor)))
        if terms.min_price_minor:
            lines.append(self("price.min", money=money(terms.min_price_minor)))
        if terms.max_price_minor is not None:
            lines.append(self("price.max", money=money(terms.max_price_minor)))
        if not lines:
            lines.append(self("price.free"))
        return lines
