"""Site correlation: several chargers of one location with the same trouble are one site incident."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from app.core.settings import HealthSettings
from app.health.diagnosis import ChargerInfo, SiteCorrelator
from app.health.signals import Signal

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
SITE = uuid.uuid4()


def correlator(n: int = 4) -> SiteCorrelator:
    c = SiteCorrelator(HealthSettings())
    for i in range(n):
        c.know(f"CP{i}", ChargerInfo(uuid.uuid4(), SITE, None), "Depot")
    c.know("ALONE", ChargerInfo(uuid.uuid4(), uuid.uuid4(), None))
    return c


def offline(identity: str, *, clears: bool = False) -> Signal:
    return Signal(kind="offline", identity=identity, at=T0, cause="site_network", confidence=0.4, clears=clears)


def test_a_dark_site_is_one_site_incident_and_resolves_when_all_are_back() -> None:
    c = correlator()
    dark = {"CP0", "CP1", "CP2", "CP3"}
    assert c.place(offline("CP0"), T0, lambda i: i in dark) != []  # siblings already dark: site now
    [site] = c.place(offline("CP0"), T0, lambda i: i in dark) or [None]  # joins the open site
    assert site is not None and site.site and site.diagnosis.cause == "site_network"
    for i in ("CP1", "CP2", "CP3"):
        [joined] = c.place(offline(i), T0, lambda _: True)
        assert joined.site and joined.key == site.key
    for i in ("CP0", "CP1", "CP2"):
        assert c.place(offline(i, clears=True), T0, lambda _: False) == []
    [clear] = c.place(offline("CP3", clears=True), T0, lambda _: False)
    assert clear.site and clear.signal.clears


def test_one_charger_offline_is_its_own_incident_at_once() -> None:
    c = correlator()
    # Its siblings are not dark: nothing to wait for (those that went dark with it would be).
    [alone] = c.place(offline("CP0"), T0, lambda i: i == "CP0")
    assert not alone.site and alone.key == offline("CP0").key
    assert c.flush(T0 + timedelta(seconds=10), lambda i: i == "CP0") == []
    [single] = c.place(offline("ALONE"), T0, lambda _: True)  # a one-charger site: no waiting
    assert not single.site


def test_supply_trouble_on_two_chargers_is_the_sites_supply() -> None:
    c = correlator(2)

    def sag(identity: str) -> Signal:
        return Signal(kind="power_supply", identity=identity, evse=1, topic="voltage", at=T0, cause="grid_supply")

    assert c.place(sag("CP0"), T0, lambda _: False) == []
    [site] = c.place(sag("CP1"), T0, lambda _: False)
    assert site.site and site.diagnosis.cause == "grid_supply" and site.diagnosis.confidence > 0.8
    assert {link["identity"] for link in site.diagnosis.chain} == {"CP0", "CP1"}


def test_a_site_going_dark_after_one_charger_folds_that_chargers_incident_in() -> None:
    c = correlator(3)
    # CP0 went offline alone earlier: its own incident is open (it is "down").
    down = {"CP0"}
    dark = {"CP0", "CP1"}
    assert c.place(offline("CP1"), T0, lambda i: i in dark, lambda i: i in down) != []
    [site] = c.place(offline("CP1"), T0, lambda i: i in dark, lambda i: i in down)
    assert site.site and site.absorbs == ()  # joining: nothing more to fold in
    c2 = correlator(3)
    [formed] = c2.place(offline("CP1"), T0, lambda i: i in dark, lambda i: i in down)
    assert formed.site and formed.absorbs == (offline("CP0").key,)
    # CP0's return now counts for the site: the site clears when both are back.
    assert c2.place(offline("CP0", clears=True), T0, lambda _: False) == []
    [clear] = c2.place(offline("CP1", clears=True), T0, lambda _: False)
    assert clear.site and clear.signal.clears


def test_a_sibling_only_silent_for_a_moment_is_not_folded_in() -> None:
    c = correlator(3)
    dark = {"CP0", "CP1"}  # CP0 silent, but never told offline
    [formed] = c.place(offline("CP1"), T0, lambda i: i in dark, lambda _: False)
    assert formed.site and formed.absorbs == ()
    [clear] = c.place(offline("CP1", clears=True), T0, lambda _: False)  # CP0 is not waited for
    assert clear.site and clear.signal.clears
