"""Uploading a diagnostics / log file to the URL the CSMS gave, with the standard library only.

Blocking (urllib); the charger runs it in ``asyncio.to_thread``. OCPP 1.6 GetDiagnostics is
answered with an HTTP POST of ``multipart/form-data`` (one file part named ``file``), 2.0.1
GetLog with an HTTP PUT of the raw file. Proxies from the environment are ignored: the
charger talks straight to its CSMS.
"""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
import uuid
from urllib.parse import urlsplit


class UploadError(Exception):
    """The upload could not be made at all (bad URL, unsupported scheme...)."""


def multipart(field: str, filename: str, content: bytes, content_type: str = "text/plain") -> tuple[bytes, str]:
    """A ``multipart/form-data`` body with one file part; (body, Content-Type header)."""
    boundary = f"----laddnat-sim-{uuid.uuid4().hex}"
    safe_name = filename.replace('"', "").replace("\r", "").replace("\n", "")
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="{field}"; filename="{safe_name}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return head + content + tail, f"multipart/form-data; boundary={boundary}"


def send(
    url: str,
    method: str,
    body: bytes,
    headers: dict[str, str],
    *,
    ssl_context: ssl.SSLContext | None = None,
    timeout_s: float = 30.0,
) -> int:
    """Send ``body``; the HTTP status code (also for 4xx/5xx answers).

    Raises :class:`UploadError` for a URL that is not http(s) and ``OSError`` when the server
    cannot be reached.
    """
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise UploadError(f"cannot upload to {scheme or 'a relative'} URL {url!r}: only HTTP(S) is supported")
    handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
    if scheme == "https":
        handlers.append(urllib.request.HTTPSHandler(context=ssl_context or ssl.create_default_context()))
    opener = urllib.request.build_opener(*handlers)
    request = urllib.request.Request(
        url,
        data=body,
        method=method,
        headers={"User-Agent": "laddnat-simulator", **headers},
    )
    try:
        with opener.open(request, timeout=timeout_s) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        with exc:
            return int(exc.code)
    except ValueError as exc:  # e.g. no host in the URL
        raise UploadError(str(exc)) from exc


def post_multipart(
    url: str,
    filename: str,
    content: bytes,
    *,
    ssl_context: ssl.SSLContext | None = None,
    timeout_s: float = 30.0,
) -> int:
    """OCPP 1.6 GetDiagnostics: POST the file as the form part ``file``."""
    body, content_type = multipart("file", filename, content)
    return send(url, "POST", body, {"Content-Type": content_type}, ssl_context=ssl_context, timeout_s=timeout_s)


def put_file(
    url: str,
    filename: str,
    content: bytes,
    *,
    ssl_context: ssl.SSLContext | None = None,
    timeout_s: float = 30.0,
) -> int:
    """OCPP 2.0.1 GetLog: PUT the raw file, its name in Content-Disposition."""
    safe_name = filename.replace('"', "").replace("\r", "").replace("\n", "")
    headers = {"Content-Type": "text/plain", "Content-Disposition": f'attachment; filename="{safe_name}"'}
    return send(url, "PUT", body=content, headers=headers, ssl_context=ssl_context, timeout_s=timeout_s)
