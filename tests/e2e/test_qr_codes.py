"""The EVSEs' QR codes: what they encode, and the operator API's SVG, PNG and A4 sheet.

No QR decoder is installed, so a served code is checked against the code built for the
expected URL (the same modules, pixel for pixel), and the URL's encoding through the
qrcode API (one alphanumeric segment)."""

from __future__ import annotations

import dataclasses
import io
import re
import uuid
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree as ET

import httpx
import pytest
from PIL import Image, ImageChops
from qrcode.image.svg import SvgPathImage
from qrcode.util import MODE_8BIT_BYTE, MODE_ALPHA_NUM, QRData, optimal_mode

from app.chargers.qr import build_qr, qr_image, qr_url
from app.core.database import create_engine
from app.core.settings import HttpSettings, Settings
from app.drivers.service import UserService
from app.main import create_app
from tests.e2e.test_api import CHARGER_PASSWORD, problem, running
from tests.support import create_staff

OPS = "/api/v1/operator"
BASE_URL = "https://laddnat.example"
SVG = "{http://www.w3.org/2000/svg}"
OPERATOR = ("qr-ops@example.se", "operator-password-1")
DRIVER = ("qr-driver@example.se", "driver-password-1")


# -- what a code encodes ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("https://laddnat.example", "HTTPS://LADDNAT.EXAMPLE/C/SE*LAD*E0001*1"),
        ("https://Laddnat.Example/", "HTTPS://LADDNAT.EXAMPLE/C/SE*LAD*E0001*1"),
        ("http://127.0.0.1:8000", "HTTP://127.0.0.1:8000/C/SE*LAD*E0001*1"),
        ("https://example.com/EV", "HTTPS://EXAMPLE.COM/EV/C/SE*LAD*E0001*1"),
        # A path of its own in lower case must stay as it is: the lower-case route then.
        ("https://example.com/laddnat/", "HTTPS://EXAMPLE.COM/laddnat/c/SE*LAD*E0001*1"),
    ],
)
def test_the_url_is_upper_case_where_case_does_not_matter(base: str, expected: str) -> None:
    assert qr_url(base, "se*lad*e0001*1") == expected


def test_a_base_url_without_a_host_is_refused() -> None:
    with pytest.raises(ValueError, match="scheme and a host"):
        qr_url("laddnat.example", "SE*LAD*E0001*1")


def test_the_url_is_one_alphanumeric_segment_and_a_small_code() -> None:
    url = qr_url("https://laddnat.se", "SE*LAD*E0001*1")
    assert optimal_mode(url.encode()) == MODE_ALPHA_NUM

    qr = build_qr(url)

    assert [d.mode for d in qr.data_list] == [MODE_ALPHA_NUM]
    assert qr.error_correction == 0  # qrcode's ERROR_CORRECT_M
    assert qr.version == 2  # 25 x 25 modules
    # The same URL as lower-case bytes needs the next size up.
    lower = build_qr(url.lower())
    assert optimal_mode(url.lower().encode()) == MODE_8BIT_BYTE
    assert lower.version == 3


def test_a_lower_case_path_costs_only_its_own_segment() -> None:
    url = qr_url("https://example.com/laddnat", "SE*LAD*E0001*1")
    qr = build_qr(url)
    assert {d.mode for d in qr.data_list} >= {MODE_ALPHA_NUM}
    assert qr.version <= build_qr(url.lower()).version


# -- the operator API ---------------------------------------------------------------------


@dataclass
class Ops:
    client: httpx.AsyncClient
    headers: dict[str, str]
    driver_headers: dict[str, str]

    async def location_with_evses(self, name: str, evse_count: int) -> tuple[str, list[str]]:
        body = {"name": name, "address": "Götgatan 1", "city": "Stockholm", "postalCode": "116 46"}
        r = await self.client.post(f"{OPS}/locations", json=body, headers=self.headers)
        assert r.status_code == 201, r.text
        location_id = r.json()["id"]
        if not evse_count:
            return location_id, []
        charger = {
            "identity": f"CP-{uuid.uuid4().hex[:10]}",
            "password": CHARGER_PASSWORD,
            "evseCount": evse_count,
            "locationId": location_id,
        }
        r = await self.client.post(f"{OPS}/chargers", json=charger, headers=self.headers)
        assert r.status_code == 201, r.text
        return location_id, [e["evseId"] for e in r.json()["evses"]]

    async def get(self, path: str) -> httpx.Response:
        return await self.client.get(f"{OPS}{path}", headers=self.headers)


@pytest.fixture(scope="module")
async def ops(settings: Settings) -> AsyncIterator[Ops]:
    configured = dataclasses.replace(settings, http=HttpSettings(public_base_url=BASE_URL))
    engine = create_engine(configured.db)
    app = create_app(configured, engine=engine)
    async with app.state.sessionmaker() as db:
        await create_staff(db, *OPERATOR)
        await UserService(db).create_user(*DRIVER, "driver")
    transport = httpx.ASGITransport(app=app)
    async with running(app), httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        tokens = []
        for email, password in (OPERATOR, DRIVER):
            r = await client.post("/api/v1/auth/token", json={"email": email, "password": password})
            assert r.status_code == 200, r.text
            tokens.append({"Authorization": f"Bearer {r.json()['accessToken']}"})
        yield Ops(client, tokens[0], tokens[1])
    await engine.dispose()


async def test_the_svg_is_the_evses_code_with_its_id_under_it(ops: Ops) -> None:
    _, (evse_id, *_) = await ops.location_with_evses("SVG site", 2)

    r = await ops.get(f"/evses/{evse_id}/qr.svg")

    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(r.content)
    assert root.tag == f"{SVG}svg"
    assert [t.text for t in root.iter(f"{SVG}text")] == [evse_id]
    (path,) = root.iter(f"{SVG}path")
    expected = build_qr(qr_url(BASE_URL, evse_id), box_size=10).make_image(image_factory=SvgPathImage)
    assert expected.path is not None
    assert path.get("d") == expected.path.get("d")
    # Printed at 1 mm a module: the label fits under the code inside the drawing.
    width, height = (float(root.get(k, "0").removesuffix("mm")) for k in ("width", "height"))
    assert height > width >= 25


async def test_the_png_is_the_evses_code_with_its_id_under_it(ops: Ops) -> None:
    _, (evse_id, *_) = await ops.location_with_evses("PNG site", 1)

    r = await ops.get(f"/evses/{evse_id}/qr.png")

    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(r.content))
    image.load()
    assert image.format == "PNG"
    code = qr_image(qr_url(BASE_URL, evse_id))
    assert image.width == code.width and image.height > code.height
    # The code itself, pixel for pixel, then the label (dark pixels) in the band below.
    assert ImageChops.difference(image.convert("L").crop((0, 0, *code.size)), code).getbbox() is None
    band = image.convert("L").crop((0, code.height, image.width, image.height))
    assert band.getextrema()[0] == 0


async def test_the_evse_id_may_come_in_any_case_and_percent_encoded(ops: Ops) -> None:
    _, (evse_id, *_) = await ops.location_with_evses("Case site", 1)

    r = await ops.get(f"/evses/{evse_id.lower().replace('*', '%2A')}/qr.svg")

    assert r.status_code == 200, r.text
    root = ET.fromstring(r.content)
    assert [t.text for t in root.iter(f"{SVG}text")] == [evse_id]


def pdf_text(pdf: bytes) -> str:
    """The PDF's page content, its compressed streams inflated."""
    chunks = []
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        data = match.group(1)
        try:
            data = zlib.decompress(data)
        except zlib.error:
            pass
        chunks.append(data.decode("latin-1"))
    return "\n".join(chunks)


async def test_the_a4_sheet_holds_every_evse_of_the_location(ops: Ops) -> None:
    location_id, evse_ids = await ops.location_with_evses("Laddnät Götgatan", 13)

    r = await ops.get(f"/locations/{location_id}/qr-sheet.pdf")

    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF-") and r.content.rstrip().endswith(b"%%EOF")
    content = pdf_text(r.content)
    for evse_id in evse_ids:
        assert f"({evse_id})" in content
    assert "Laddnät Götgatan" in content
    assert "Götgatan 1, 116 46, Stockholm" in content
    # A4 in points, 12 codes a page: 13 take two pages.
    assert len(re.findall(rb"/MediaBox\s*\[\s*0\s+0\s+595\.28\s+841\.89\s*\]", r.content)) in (1, 2)
    assert len(re.findall(rb"/Type\s*/Page\b", r.content)) == 2
    assert len(re.findall(rb"/Subtype\s*/Image", r.content)) == 13


async def test_a_location_without_evses_gets_a_sheet_saying_so(ops: Ops) -> None:
    location_id, _ = await ops.location_with_evses("Empty site", 0)

    r = await ops.get(f"/locations/{location_id}/qr-sheet.pdf")

    assert r.status_code == 200, r.text
    assert "no EVSEs yet" in pdf_text(r.content)


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/evses/SE*LAD*E9999*9/qr.svg", 404, "evse.not_found"),
        ("/evses/SE*LAD*E9999*9/qr.png", 404, "evse.not_found"),
        (f"/locations/{uuid.UUID(int=7)}/qr-sheet.pdf", 404, "location.not_found"),
    ],
)
async def test_unknown_evses_and_locations_are_not_found(ops: Ops, path: str, status: int, code: str) -> None:
    problem(await ops.get(path), status, code)


async def test_qr_codes_are_for_operators(ops: Ops) -> None:
    location_id, (evse_id,) = await ops.location_with_evses("Guarded site", 1)
    paths: list[Any] = [
        f"/evses/{evse_id}/qr.svg",
        f"/evses/{evse_id}/qr.png",
        f"/locations/{location_id}/qr-sheet.pdf",
    ]
    for path in paths:
        problem(await ops.client.get(f"{OPS}{path}", headers=ops.driver_headers), 403, "auth.forbidden")
        problem(await ops.client.get(f"{OPS}{path}"), 401, "auth.unauthenticated")


def test_qrdata_modes_are_what_the_test_assumes() -> None:
    # qrcode's own API, so the assertions above mean what they say.
    assert QRData(b"HTTPS://X/C/SE*1").mode == MODE_ALPHA_NUM
    assert QRData(b"https://x/c/SE*1").mode == MODE_8BIT_BYTE
