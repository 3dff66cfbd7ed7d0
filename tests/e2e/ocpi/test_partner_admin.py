"""Operators suspend and resume a roaming partner, and see how its pushes stand: a suspended
partner's calls answer 403 in the envelope and what we owe it waits, then goes out once it
is resumed; only a company's admins may do it, and another company's partner is a 404."""

from __future__ import annotations

from typing import Any

from app.roaming.push import enqueue
from devtools.fakes.ocpi import emsp_party
from tests.e2e.health.health_stack import eventually
from tests.e2e.ocpi.test_registration import OPS, Cpo, cpo, party_config

__all__ = ["cpo"]  # the registration tests' CPO stack, one of this module's own


def status_of(r: Any) -> tuple[int, int]:
    return r.status_code, r.json()["status_code"]


async def test_a_suspended_partner_is_refused_and_its_pushes_wait_until_resumed(cpo: Cpo) -> None:
    async with emsp_party(party_config("SUS")) as party:
        peer = await party.register_with(cpo.versions_url, await cpo.issue())
        partner = await cpo.partner(party_id="SUS")
        assert status_of(await cpo.ocpi("GET", "/2.2.1/locations", peer.token_out)) == (200, 1000)

        r = await cpo.client.post(f"{OPS}/{partner.id}/suspension", headers=cpo.headers["x"])
        assert r.status_code == 200, r.text
        assert (r.json()["suspended"], r.json()["state"]) == (True, "registered")
        refused = await cpo.ocpi("GET", "/2.2.1/locations", peer.token_out)
        assert status_of(refused) == (403, 2000) and "suspended" in refused.json()["status_message"]

        location = {"id": "LOC-SUS-1", "country_code": "SE", "party_id": "XOC", "last_updated": "2026-12-07T10:00:00Z"}
        async with cpo.maker() as db:
            await enqueue(
                db,
                partner,
                module="locations",
                method="PUT",
                url=f"{party.module_url('locations')}/SE/XOC/LOC-SUS-1",
                body=location,
                object_key="location:LOC-SUS-1",
            )
            await db.commit()
        assert await cpo.app.state.ocpi_push_worker.send_due() == 0
        shown = (await cpo.client.get(f"{OPS}/{partner.id}", headers=cpo.headers["x"])).json()
        assert (shown["pendingPushes"], shown["lastPushAt"]) == (1, None)

        r = await cpo.client.delete(f"{OPS}/{partner.id}/suspension", headers=cpo.headers["x"])
        assert r.status_code == 200 and r.json()["suspended"] is False
        await cpo.app.state.ocpi_push_worker.send_due()  # (or the app's own worker's pass, first)
        await party.wait_for(lambda c: c.method == "PUT" and c.path.endswith("LOC-SUS-1"))
        assert party.locations[("SE", "XOC", "LOC-SUS-1")] == location

        async def shown_delivered() -> dict[str, Any] | None:
            listed = (await cpo.client.get(OPS, headers=cpo.headers["x"])).json()["items"]
            mine: dict[str, Any] = next(p for p in listed if p["id"] == str(partner.id))
            return mine if mine["lastPushAt"] is not None else None

        # The worker records the outcome just after the partner answered.
        mine = await eventually(shown_delivered, "the delivered push is on the partner's record")
        assert (mine["pendingPushes"], mine["failedPushes"]) == (0, 0)
        assert status_of(await cpo.ocpi("GET", "/2.2.1/locations", peer.token_out)) == (200, 1000)


async def test_only_the_companys_admins_suspend(cpo: Cpo) -> None:
    async with emsp_party(party_config("SUR")) as party:
        await party.register_with(cpo.versions_url, await cpo.issue())
        partner = await cpo.partner(party_id="SUR")
        r = await cpo.client.post(f"{OPS}/{partner.id}/suspension", headers=cpo.headers["x_reader"])
        assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")
        r = await cpo.client.post(f"{OPS}/{partner.id}/suspension", headers=cpo.headers["y"])
        assert r.status_code == 404 and r.json()["code"] == "roaming.partner_not_found"
        assert (await cpo.partner(party_id="SUR")).suspended_at is None


async def test_a_path_under_ocpi_that_does_not_exist_is_a_404_in_the_envelope(cpo: Cpo) -> None:
    r = await cpo.client.get(f"{cpo.base_url}/ocpi/2.2.1/nothing/here")
    assert r.status_code == 404
    assert set(r.json()) >= {"status_code", "timestamp"} and r.json()["status_code"] == 2000
    r = await cpo.client.delete(f"{cpo.base_url}/ocpi/versions")
    assert r.status_code == 405 and r.json()["status_code"] == 2000
