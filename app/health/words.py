"""What an incident means to the driver charging there, in plain words (English, Swedish).

The operator reads the diagnosis and its evidence; the driver reads what is wrong, what
happens to the charging and what happens to the money. The app's live stream and the web
checkout both say it this way.
"""

from __future__ import annotations

DRIVER_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "overheating": "The charger is running too hot. It may lower the power or stop to cool down.",
        "grid_supply": "The charger's power supply is unstable. Charging may be slower or stop.",
        "site_network": "This site has lost its connection. Charging may stop.",
        "vehicle_communication": "The charger has trouble talking to cars. If charging stops, unplug and try again.",
        "metering": "The charger's energy meter reports wrong figures. It is being checked.",
        "connector_lock": "The cable lock has a problem. It is being released.",
        "internal_firmware": "The charger has an internal error. It may restart by itself.",
        "rfid_reader": "The card reader has a problem. Start from the app or the QR code instead.",
        "electrical_protection": "The charger's electrical protection has switched off. It is being checked.",
        "unknown": "The charger is behaving unusually. It is being checked.",
    },
    "sv": {
        "overheating": "Laddaren är för varm. Den kan sänka effekten eller stanna för att svalna.",
        "grid_supply": "Laddarens strömförsörjning är instabil. Laddningen kan gå långsammare eller stanna.",
        "site_network": "Platsen har tappat sin uppkoppling. Laddningen kan stanna.",
        "vehicle_communication": "Laddaren har svårt att kommunicera med bilar. Om laddningen stannar, koppla ur "
        "och försök igen.",
        "metering": "Laddarens elmätare visar fel värden. Den kontrolleras.",
        "connector_lock": "Kabellåset har ett fel. Det låses upp.",
        "internal_firmware": "Laddaren har ett internt fel. Den kan starta om av sig själv.",
        "rfid_reader": "Kortläsaren har ett fel. Starta i appen eller med QR-koden i stället.",
        "electrical_protection": "Laddarens elskydd har löst ut. Det kontrolleras.",
        "unknown": "Laddaren beter sig ovanligt. Den kontrolleras.",
    },
}

# Open incidents that take an EVSE off the drivers' map (out of order in search, no new
# session): every critical one, and those where a session would fail or be billed wrong.
OUT_OF_ORDER_KINDS = frozenset({"failed_starts", "vehicle_communication", "metering"})

PAYMENT_WORDS = {
    "en": "You pay only for the energy delivered; the rest of the reservation on your card is released.",
    "sv": "Du betalar bara för energin som levererats; resten av reservationen på ditt kort släpps.",
}


def for_driver(cause: str, lang: str = "en") -> str:
    words = DRIVER_WORDS.get(lang, DRIVER_WORDS["en"])
    return words.get(cause, words["unknown"])
