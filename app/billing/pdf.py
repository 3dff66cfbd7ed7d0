"""PDF documents of billing (receipts, invoices): one A4 column of headings, fields and tables.

Text prints in DejaVu Sans when the machine has it; otherwise in the PDF core fonts, which
hold Latin-1 only, so the text is brought down to that first (``latin1``).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos

_FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/share/fonts/TTF"),
    Path("/usr/local/share/fonts"),
)


@lru_cache(maxsize=1)
def unicode_font() -> tuple[Path, Path] | None:
    """DejaVu Sans (regular, bold) if the machine has it: any text prints as it is."""
    for folder in _FONT_DIRS:
        regular, bold = folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"
        if regular.is_file() and bold.is_file():
            return regular, bold
    return None


_LATIN1_SUBSTITUTES = str.maketrans(
    {
        "–": "-",
        "—": "-",
        "‘": "'",
        "’": "'",
        "“": '"',
        "”": '"',
        "…": "...",
        "•": "*",
        "€": "EUR",
        # Letters NFKD does not take apart.
        "Ł": "L",
        "ł": "l",
        "Đ": "D",
        "đ": "d",
        "Œ": "OE",
        "œ": "oe",
        "\u00a0": " ",
        "\u202f": " ",
    }
)


def latin1(text: str) -> str:
    """What the PDF core fonts can print: Latin-1 as it is (å ä ö é ü), typographic
    punctuation as ASCII, accented letters beyond Latin-1 without their accent, and '?'
    for whatever is left."""
    out: list[str] = []
    for ch in text.translate(_LATIN1_SUBSTITUTES):
        if ord(ch) < 256:
            out.append(ch)
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if ord(c) < 256 and not unicodedata.combining(c))
        out.append(base or "?")
    return "".join(out)


class PdfDocument:
    """A one-column A4 document: headings, key/value rows and tables of amounts."""

    def __init__(self, title: str, *, use_unicode_font: bool = True) -> None:
        self.pdf = FPDF(format="A4", unit="mm")
        self.pdf.set_title(title)
        self.pdf.set_creator("Laddnät")
        self.pdf.set_auto_page_break(auto=True, margin=15)
        self.pdf.set_margins(18, 18, 18)
        font = unicode_font() if use_unicode_font else None
        if font is not None:
            self.pdf.add_font("DejaVu", "", str(font[0]))
            self.pdf.add_font("DejaVu", "B", str(font[1]))
            self.family = "DejaVu"
            self.text: Callable[[str], str] = str
        else:
            self.family = "Helvetica"
            self.text = latin1
        self.pdf.add_page()
        self.width = self.pdf.w - self.pdf.l_margin - self.pdf.r_margin

    def heading(self, text: str, size: float = 16) -> None:
        self.pdf.set_font(self.family, "B", size)
        self.pdf.cell(0, size * 0.5, self.text(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.pdf.ln(1)

    def paragraph(self, text: str, size: float = 10) -> None:
        self.pdf.set_font(self.family, "", size)
        self.pdf.multi_cell(0, 5, self.text(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def fields(self, pairs: Sequence[tuple[str, str]], key_width: float = 38) -> None:
        for key, value in pairs:
            self.pdf.set_font(self.family, "", 9.5)
            self.pdf.set_text_color(90, 90, 90)
            self.pdf.cell(key_width, 5.5, self.text(key))
            self.pdf.set_text_color(0, 0, 0)
            self.pdf.multi_cell(0, 5.5, self.text(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.pdf.ln(2)

    def table(
        self,
        header: Sequence[str],
        rows: Sequence[Sequence[str]],
        widths: Sequence[float],
        *,
        total: Sequence[str] | None = None,
        size: float = 9.5,
    ) -> None:
        """Column 0 left-aligned, the others right-aligned; widths are fractions of the line."""
        cols = [w * self.width for w in widths]

        def row(cells: Sequence[str], style: str, border: str) -> None:
            self.pdf.set_font(self.family, style, size)
            for i, (cell, w) in enumerate(zip(cells, cols, strict=True)):
                self.pdf.cell(w, 6.5, self.text(cell), border=border, align="L" if i == 0 else "R")
            self.pdf.ln(6.5)

        row(header, "B", "B")
        for cells in rows:
            row(cells, "", "")
        if total is not None:
            row(total, "B", "T")
        self.pdf.ln(3)

    def output(self) -> bytes:
        return bytes(self.pdf.output())
