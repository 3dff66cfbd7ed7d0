"""Sending e-mail: SMTP when ``LADDNAT_SMTP_URL`` is set, else the log (development)."""

from __future__ import annotations

import logging
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from app.core.settings import MailSettings

log = logging.getLogger("laddnat.mail")


class MailError(Exception):
    """Delivery failed; ``permanent`` when retrying cannot help (a refused recipient)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


class SmtpMailer:
    """``smtp://user:pass@host:587?starttls=true`` or ``smtps://host:465``."""

    def __init__(self, url: str, *, timeout_s: float = 30.0) -> None:
        parts = urlsplit(url)
        self.hostname = parts.hostname or "localhost"
        self.use_tls = parts.scheme == "smtps"
        self.port = parts.port or (465 if self.use_tls else 25)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        query = parse_qs(parts.query)
        self.start_tls = query.get("starttls", ["false"])[0].lower() in {"1", "true", "yes"}
        self.timeout_s = timeout_s

    async def send(self, message: EmailMessage) -> None:
        try:
            await aiosmtplib.send(
                message,
                hostname=self.hostname,
                port=self.port,
                username=self.username,
                password=self.password,
                use_tls=self.use_tls,
                start_tls=self.start_tls,
                timeout=self.timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as err:
            raise MailError(f"recipient refused: {err}", permanent=True) from err
        except (aiosmtplib.SMTPException, OSError) as err:
            raise MailError(f"{type(err).__name__}: {err}") from err


class LogMailer:
    """No SMTP configured: the message goes to the log, so development shows what would be sent."""

    async def send(self, message: EmailMessage) -> None:
        log.info("mail (no LADDNAT_SMTP_URL): to %s: %s", message["To"], message["Subject"])


def create_mailer(settings: MailSettings) -> Mailer:
    return SmtpMailer(settings.smtp_url) if settings.smtp_url else LogMailer()
