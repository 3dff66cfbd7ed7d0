"""Billing documents as HTTP file responses (receipt pages and PDFs, invoice PDFs, CSV reports)."""

from __future__ import annotations

from litestar import Response

PDF = "application/pdf"
HTML = "text/html; charset=utf-8"
CSV = "text/csv; charset=utf-8"


def file_response(content: bytes | str, media_type: str, filename: str, *, attachment: bool = False) -> Response[bytes]:
    """The document inline (or as a download with ``attachment``), never cached on the way."""
    body = content.encode() if isinstance(content, str) else content
    disposition = "attachment" if attachment else "inline"
    return Response(
        body,
        media_type=media_type,
        headers={
            "Content-Disposition": f'{disposition}; filename="{filename}"',
            # A receipt names a card's last four: nobody in between keeps a copy.
            "Cache-Control": "private, no-store",
        },
    )
