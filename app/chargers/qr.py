"""QR codes on the chargers: each EVSE's code opens ``{public base URL}/C/{EVSE ID}``.

Pure: no database. The web checkout answers the URL in a browser; the app reads the EVSE
ID from it and asks ``GET /api/v1/evses/{evse_id}``.

Size matters on a sticker: a QR code's alphanumeric mode (0-9, A-Z, space and ``$%*+-./:``)
takes 5.5 bits a character where byte mode takes 8, so the URL is written in upper case
where that does not change what it means. Scheme and host are case-insensitive, and eMI3
EVSE IDs too; the path is not, so the checkout answers ``/C/{evse_id}`` as well as
``/c/{evse_id}``. A base URL with a lower-case path of its own keeps it and the lower-case
``/c/``: the code is then mixed mode (byte for that part) and a little larger.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

import qrcode
from fpdf import FPDF
from PIL import Image, ImageDraw, ImageFont
from qrcode.constants import ERROR_CORRECT_M
from qrcode.image.pil import PilImage
from qrcode.image.svg import SvgPathImage
from qrcode.util import MODE_ALPHA_NUM, QRData

ALPHANUMERIC = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
SVG_NS = "http://www.w3.org/2000/svg"
# Pixels per module in a PNG: 10 gives ~330 px for a typical code, sharp on A4 at 48 mm.
PNG_BOX_PX = 10
BORDER_MODULES = 4  # the quiet zone the standard asks for


def qr_url(public_base_url: str, evse_id: str) -> str:
    """``https://laddnat.example/`` + ``SE*LAD*E0001*1`` -> ``HTTPS://LADDNAT.EXAMPLE/C/SE*LAD*E0001*1``."""
    parts = urlsplit(public_base_url.strip().rstrip("/"))
    if not parts.scheme or not parts.netloc:
        raise ValueError(f"public base URL {public_base_url!r} needs a scheme and a host")
    path = parts.path.rstrip("/")
    if path == path.upper():
        return f"{parts.scheme.upper()}://{parts.netloc.upper()}{path}/C/{evse_id.upper()}"
    return f"{parts.scheme.upper()}://{parts.netloc.upper()}{path}/c/{evse_id.upper()}"


def build_qr(data: str, *, box_size: int = PNG_BOX_PX) -> qrcode.QRCode:  # type: ignore[type-arg]
    """The code for ``data`` at error correction M (15 % may be dirt or scratches): one
    alphanumeric segment when every character allows it, else qrcode's mixed segments."""
    qr: qrcode.QRCode = qrcode.QRCode(  # type: ignore[type-arg]
        error_correction=ERROR_CORRECT_M, box_size=box_size, border=BORDER_MODULES
    )
    if set(data) <= ALPHANUMERIC:
        qr.add_data(QRData(data.encode("ascii"), mode=MODE_ALPHA_NUM))
    else:
        qr.add_data(data)
    qr.make(fit=True)
    return qr


def qr_svg(data: str, label: str) -> bytes:
    """A standalone SVG: the code on white, ``label`` centred under it (sizes in mm,
    one module = 1 mm, so it prints at a scannable size as it is)."""
    qr = build_qr(data, box_size=10)  # SvgPathImage: box_size 10 = 1 mm = one user unit
    img = qr.make_image(image_factory=SvgPathImage)
    side = float(img.units(img.pixel_size, text=False))
    font_size = max(2.5, side / 11)
    band = font_size * 1.8
    height = side + band
    path = img.path
    assert path is not None  # set by SvgPathImage.process() in make_image
    svg = ET.Element(
        "svg",
        xmlns=SVG_NS,
        version="1.1",
        width=f"{_num(side)}mm",
        height=f"{_num(height)}mm",
        viewBox=f"0 0 {_num(side)} {_num(height)}",
    )
    ET.SubElement(svg, "title").text = label
    ET.SubElement(svg, "rect", x="0", y="0", width=_num(side), height=_num(height), fill="#ffffff")
    ET.SubElement(svg, "path", d=path.get("d", ""), fill="#000000")
    text = ET.SubElement(
        svg,
        "text",
        x=_num(side / 2),
        # The quiet zone below the code is part of ``side``: the label sits just under it.
        y=_num(side + font_size * 0.2),
        fill="#000000",
        style=f"font: bold {_num(font_size)}px 'DejaVu Sans Mono', Menlo, Consolas, monospace",
    )
    text.set("text-anchor", "middle")
    text.set("dominant-baseline", "hanging")
    text.text = label
    out = io.BytesIO()
    ET.ElementTree(svg).write(out, encoding="UTF-8", xml_declaration=True)
    return out.getvalue()


def qr_image(data: str, label: str | None = None) -> Image.Image:
    """The code as a greyscale Pillow image; with ``label`` printed under it."""
    qr = build_qr(data)
    code = qr.make_image(image_factory=PilImage).get_image().convert("L")
    if label is None:
        return code
    width, height = code.size
    font = _font(max(14, width // 14))
    draw = ImageDraw.Draw(code)
    _, top, _, bottom = draw.textbbox((0, 0), label, font=font)
    band = (bottom - top) + PNG_BOX_PX * 3
    canvas = Image.new("L", (width, height + band), 255)
    canvas.paste(code, (0, 0))
    ImageDraw.Draw(canvas).text((width / 2, height), label, fill=0, font=font, anchor="mt")
    return canvas


def qr_png(data: str, label: str) -> bytes:
    out = io.BytesIO()
    qr_image(data, label).save(out, format="PNG", optimize=True)
    return out.getvalue()


def qr_sheet_pdf(title: str, subtitle: str, codes: Sequence[tuple[str, str]]) -> bytes:
    """An A4 sheet (several pages if need be) of ``(label, data)`` codes, 3 x 4 a page,
    48 mm each with its label under it, for printing and sticking on the chargers."""
    pdf = FPDF(format="A4", unit="mm")
    pdf.set_title(_latin1(f"QR codes: {title}"))
    pdf.set_creator("Laddnät")
    pdf.set_auto_page_break(auto=False)
    margin, columns, rows = 15.0, 3, 4
    cell_w = (pdf.w - 2 * margin) / columns
    code_mm, cell_h, top = 48.0, 60.0, 34.0

    def header() -> None:
        pdf.add_page()
        pdf.set_xy(margin, margin)
        pdf.set_font("Helvetica", "B", 16)
        pdf.cell(0, 8, _latin1(title))
        pdf.set_xy(margin, margin + 8)
        pdf.set_font("Helvetica", "", 10)
        pdf.cell(0, 6, _latin1(subtitle))

    header()
    if not codes:
        pdf.set_xy(margin, top)
        pdf.set_font("Helvetica", "", 11)
        pdf.cell(0, 8, "This location has no EVSEs yet.")
    per_page = columns * rows
    for i, (label, data) in enumerate(codes):
        if i and i % per_page == 0:
            header()
        row, column = divmod(i % per_page, columns)
        x = margin + column * cell_w + (cell_w - code_mm) / 2
        y = top + row * cell_h
        pdf.image(qr_image(data), x=x, y=y, w=code_mm, h=code_mm)
        pdf.set_xy(margin + column * cell_w, y + code_mm)
        pdf.set_font("Courier", "B", 11)
        pdf.cell(cell_w, 6, _latin1(label), align="C")
    return bytes(pdf.output())


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (OSError, ImportError, TypeError):  # Pillow without FreeType: the small bitmap font
        return ImageFont.load_default()


def _num(x: float) -> str:
    return f"{x:.3f}".rstrip("0").rstrip(".")


def _latin1(text: str) -> str:
    """What the PDF core fonts can print (å ä ö as they are); '?' for the rest."""
    return text.encode("latin-1", "replace").decode("latin-1")
