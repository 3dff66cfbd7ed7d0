"""Fleet correlation: one tenant's chargers of one model and firmware with the same trouble
are one fleet incident with its scope, when they are enough of them and enough of that
model's population; the same model on other firmware is the comparison."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import msgspec

from app.core.settings import HealthSettings
from app.health.diagnosis import Placement, diagnose
from app.health.fleet import FleetCharger, FleetCorrelator, FleetModel
from app.health.signals import Signal

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
ACME = uuid.uuid4()
OTHER_TENANT = uuid.uuid4()
X1_23 = FleetModel("Acme", "X1", "2.3")
X1_22 = FleetModel("Acme", "X1", "2.2")
Y2_23 = FleetModel("Acme", "Y2", "2.3")


def fleet(*groups: tuple[str, int, FleetModel, uuid.UUID], **settings: float) -> FleetCorrelator:
    """Chargers ``{prefix}{n}``, each on a site of its own."""
    c = FleetCorrelator(HealthSettings(**settings))  # type: ignore[arg-type]
    for prefix, count, model, tenant in groups:
        for n in range(count):
            c.know(f"{prefix}{n}", FleetCharger(tenant, uuid.uuid4(), model))
    return c


def hot(identity: str, *, clears: bool = False, at: datetime = T0) -> Placement:
    signal = Signal(
        kind="reported_error",
        identity=identity,
        at=at,
        evse=1,
        connector=1,
        severity="critical",
        cause="overheating",
        confidence=0.9,
        summary=f"{identity} reports HighTemperature",
        evidence={} if clears else {"errorCode": "HighTemperature"},
        clears=clears,
    )
    return _placement(signal)


def trouble(
    identity: str, kind: str, cause: str, *, topic: str = "", code: str | None = None, clears: bool = False
) -> Placement:
    evidence = {"errorCode": code} if code else {}
    signal = Signal(kind=kind, identity=identity, at=T0, evse=1, topic=topic, cause=cause, evidence=evidence)
    return _placement(msgspec.structs.replace(signal, clears=clears))


def _placement(signal: Signal) -> Placement:
    return Placement(
        signal=signal, key=signal.key, diagnosis=diagnose(signal), charger=None, location_id=None, operator_id=ACME
    )


def test_three_of_five_of_one_firmware_are_one_fleet_incident_that_absorbs_the_first_two() -> None:
    c = fleet(("A", 5, X1_23, ACME), ("B", 3, X1_22, ACME))
    [own0] = c.place(hot("A0"), T0)
    [own1] = c.place(hot("A1"), T0 + timedelta(minutes=5))
    assert not own0.fleet and own0.key == hot("A0").key and not own1.fleet
    [opened] = c.place(hot("A2"), T0 + timedelta(minutes=9))
    assert opened.fleet and opened.charger is None and opened.location_id is None
    assert opened.key == f"fleet:{ACME}:Acme|X1|2.3:reported_error:HighTemperature:overheating"
    assert set(opened.absorbs) == {hot("A0").key, hot("A1").key}
    assert opened.signal.identity == "A0" and opened.signal.severity == "critical"
    assert opened.diagnosis.cause == "overheating" and opened.diagnosis.confidence == 0.9
    scope = opened.signal.evidence
    assert (scope["vendor"], scope["model"], scope["firmware"]) == ("Acme", "X1", "2.3")
    assert scope["chargers"] == ["A0", "A1", "A2"] and scope["population"] == 5 and len(scope["sites"]) == 3
    assert scope["otherFirmware"] == [{"firmware": "2.2", "chargers": 3, "affected": 0}]
    assert scope["firmwareSuspected"] is True
    assert opened.diagnosis.summary == (
        "3 of 5 Acme X1 chargers on firmware 2.3 run hot (overheating); on other firmware 0 of 3 do: "
        "firmware 2.3 suspected."
    )


def test_a_share_too_small_of_a_large_fleet_stays_per_charger() -> None:
    # 3 of 12 is 25 %: three independent faults of a big fleet, not the firmware.
    c = fleet(("A", 12, X1_23, ACME))
    for i in range(3):
        [own] = c.place(hot(f"A{i}"), T0)
        assert not own.fleet
    [fourth] = c.place(hot("A3"), T0)  # 4 of 12 is a third: now it is the fleet's
    assert fourth.fleet and set(fourth.absorbs) == {hot(f"A{i}").key for i in range(3)}


def test_two_are_not_enough_even_of_two() -> None:
    c = fleet(("A", 2, X1_23, ACME))
    assert [p.fleet for i in range(2) for p in c.place(hot(f"A{i}"), T0)] == [False, False]


def test_other_firmware_in_trouble_too_is_no_firmware_suspicion() -> None:
    c = fleet(("A", 4, X1_23, ACME), ("B", 3, X1_22, ACME))
    c.place(hot("B0"), T0)
    for i in range(2):
        c.place(hot(f"A{i}"), T0)
    [opened] = c.place(hot("A2"), T0)
    assert opened.signal.evidence["otherFirmware"] == [{"firmware": "2.2", "chargers": 3, "affected": 1}]
    assert opened.signal.evidence["firmwareSuspected"] is False
    assert opened.diagnosis.summary.endswith("on other firmware 1 of 3 do.")


def test_later_members_join_and_the_last_clear_resolves_it() -> None:
    c = fleet(("A", 5, X1_23, ACME))
    for i in range(3):
        c.place(hot(f"A{i}"), T0)
    [joined] = c.place(hot("A3"), T0 + timedelta(minutes=1))
    assert joined.fleet and joined.joined == "A3" and joined.absorbs == ()
    assert joined.signal.evidence["chargers"] == ["A0", "A1", "A2", "A3"]
    [again] = c.place(hot("A3"), T0 + timedelta(minutes=2))  # its condition, once more
    assert again.fleet and again.joined is None
    for i in range(3):
        [left] = c.place(hot(f"A{i}", clears=True), T0 + timedelta(minutes=3))
        assert left.fleet and not left.signal.clears  # the fleet is still in trouble: an update
        member = next(m for m in left.signal.evidence["members"] if m["identity"] == f"A{i}")
        assert member["raised"] is False
    [clear] = c.place(hot("A3", clears=True), T0 + timedelta(minutes=4))
    assert clear.fleet and clear.signal.clears and clear.key == joined.key


def test_a_members_clear_before_the_fleet_opened_clears_its_own_incident() -> None:
    c = fleet(("A", 5, X1_23, ACME))
    c.place(hot("A0"), T0)
    [own_clear] = c.place(hot("A0", clears=True), T0 + timedelta(minutes=1))
    assert not own_clear.fleet and own_clear.signal.clears


def test_a_cooled_charger_counts_for_the_window_and_not_after() -> None:
    c = fleet(("A", 5, X1_23, ACME), fleet_window_s=3600.0)
    c.place(hot("A0"), T0)
    c.place(hot("A0", clears=True), T0 + timedelta(minutes=10))  # ran hot, cooled down
    c.place(hot("A1"), T0 + timedelta(minutes=20))
    [opened] = c.place(hot("A2"), T0 + timedelta(minutes=30))  # A0 still counts: 3 of 5
    assert opened.fleet and opened.signal.evidence["chargers"] == ["A0", "A1", "A2"]
    assert [m["raised"] for m in opened.signal.evidence["members"]] == [False, True, True]

    later = fleet(("A", 5, X1_23, ACME), fleet_window_s=3600.0)
    later.place(hot("A0"), T0)
    later.place(hot("A0", clears=True), T0 + timedelta(minutes=10))
    later.place(hot("A1"), T0 + timedelta(minutes=50))
    assert later.expire(T0 + timedelta(minutes=61)) == []  # A0's hour is over: forgotten
    [own] = later.place(hot("A2"), T0 + timedelta(minutes=61))
    assert not own.fleet


def test_faults_healed_one_after_another_stay_the_chargers_own() -> None:
    c = fleet(("A", 4, X1_23, ACME))
    for i in range(2):
        c.place(hot(f"A{i}"), T0)
        c.place(hot(f"A{i}", clears=True), T0)  # its own playbook healed it
    [own] = c.place(hot("A2"), T0)
    assert not own.fleet  # one in trouble now: its own incident, its own playbook
    [opened] = c.place(hot("A1"), T0 + timedelta(hours=2))  # back, with A2 still hot
    assert opened.fleet and opened.signal.evidence["chargers"] == ["A0", "A2", "A1"]


def test_trouble_confined_to_one_site_is_the_sites_not_the_models() -> None:
    c = FleetCorrelator(HealthSettings())
    depot, elsewhere = uuid.uuid4(), uuid.uuid4()
    for i in range(4):
        c.know(f"A{i}", FleetCharger(ACME, depot if i < 3 else elsewhere, X1_23))
    assert [p.fleet for i in range(3) for p in c.place(hot(f"A{i}"), T0)] == [False, False, False]
    [opened] = c.place(hot("A3"), T0)  # a second site: now it is the model's
    assert opened.fleet and opened.signal.evidence["sites"] == sorted([str(depot), str(elsewhere)])


def test_tenants_are_kept_apart() -> None:
    c = fleet(("A", 3, X1_23, ACME), ("Z", 3, X1_23, OTHER_TENANT))
    for identity in ("A0", "A1", "Z0", "Z1"):
        [own] = c.place(hot(identity), T0)
        assert not own.fleet
    [acme] = c.place(hot("A2"), T0)
    assert acme.fleet and acme.operator_id == ACME and acme.signal.evidence["chargers"] == ["A0", "A1", "A2"]
    assert acme.signal.evidence["population"] == 3 and acme.signal.evidence["otherFirmware"] == []


def test_other_models_and_unrelated_troubles_are_not_grouped() -> None:
    c = fleet(("A", 3, X1_23, ACME), ("Y", 3, Y2_23, ACME))
    # The same trouble on three chargers of two models.
    assert [p.fleet for i in ("A0", "A1", "Y0") for p in c.place(hot(i), T0)] == [False, False, False]
    # Three chargers of one model, three unrelated troubles.
    d = fleet(("A", 3, X1_23, ACME))
    placed = [
        *d.place(hot("A0"), T0),
        *d.place(trouble("A1", "reported_error", "internal_firmware", code="InternalError"), T0),
        *d.place(trouble("A2", "metering", "metering", topic="stuck"), T0),
    ]
    assert [p.fleet for p in placed] == [False, False, False]


def test_different_codes_of_one_cause_are_different_troubles() -> None:
    c = fleet(("A", 3, X1_23, ACME))
    codes = ["InternalError", "ResetFailure", "PowerSwitchFailure"]
    placed = [
        p
        for i, code in enumerate(codes)
        for p in c.place(trouble(f"A{i}", "reported_error", "internal_firmware", code=code), T0)
    ]
    assert [p.fleet for p in placed] == [False, False, False]
    [opened] = c.place(trouble("A0", "reported_error", "internal_firmware", code="ResetFailure"), T0)
    assert not opened.fleet  # A0 reports ResetFailure now: two chargers of three


def test_offline_is_never_grouped() -> None:
    c = fleet(("A", 3, X1_23, ACME))
    for i in range(3):
        [own] = c.place(trouble(f"A{i}", "offline", "site_network"), T0)
        assert not own.fleet
    assert c.groups == {}


def test_a_charger_that_has_not_said_its_model_is_not_grouped() -> None:
    c = fleet(("A", 2, X1_23, ACME))
    c.know("NEW", FleetCharger(ACME, None, FleetModel.of(None, None, None)))
    for identity in ("A0", "A1", "NEW"):
        [own] = c.place(hot(identity), T0)
        assert not own.fleet


def test_a_firmware_update_moves_a_charger_to_its_new_population() -> None:
    c = fleet(("A", 3, X1_22, ACME), ("B", 2, X1_23, ACME))
    c.booted("A0", X1_23)
    assert c.population[(ACME, X1_23)] == {"A0", "B0", "B1"}
    c.know("A0", FleetCharger(ACME, None, X1_22))  # a row read before the boot was written
    assert c.population[(ACME, X1_23)] == {"A0", "B0", "B1"}
    for identity in ("A0", "B0"):
        c.place(hot(identity), T0)
    [opened] = c.place(hot("B1"), T0)
    assert opened.fleet and opened.signal.evidence["otherFirmware"] == [
        {"firmware": "2.2", "chargers": 2, "affected": 0}
    ]


def test_an_open_fleet_incident_is_restored_after_a_restart() -> None:
    c = fleet(("A", 5, X1_23, ACME))
    for i in range(3):
        c.place(hot(f"A{i}"), T0)
    [opened] = c.place(hot("A3"), T0)
    restarted = fleet(("A", 5, X1_23, ACME))
    restarted.restore(ACME, opened.signal.evidence, T0)
    for i in range(3):
        [left] = restarted.place(hot(f"A{i}", clears=True), T0)
        assert left.fleet and not left.signal.clears
    [joined] = restarted.place(hot("A4"), T0)
    assert joined.fleet and joined.joined == "A4"
    restarted.place(hot("A4", clears=True), T0)
    [clear] = restarted.place(hot("A3", clears=True), T0)
    assert clear.fleet and clear.signal.clears and clear.key == opened.key
