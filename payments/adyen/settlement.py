"""Adyen's settlement details report: what was really settled and refunded, and its fees.

Reports come in numbered batches (``settlement_detail_report_batch_{n}.csv``); every batch
is read until one is missing. Only "Settled" and "Refunded" rows are payment movements of
ours; amounts are turned into minor units with the currency's exponent and times into UTC.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

from app.core.settings import AdyenSettings
from payments.adyen.values import payment_id_of
from payments.provider import ProviderError, SettlementLine

# ISO-4217 exponents other than 2 (Adyen's amounts are minor units with these exponents).
_EXPONENTS = {
    **dict.fromkeys("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF".split(), 0),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
}

# The report's TimeZone column holds the account's zone abbreviation, not an IANA name.
_ZONE_OFFSETS_H = {
    "UTC": 0, "GMT": 0, "Z": 0, "WET": 0, "WEST": 1, "BST": 1, "CET": 1, "CEST": 2, "EET": 2, "EEST": 3,
    "MSK": 3, "GST": 4, "IST": 5.5, "SGT": 8, "HKT": 8, "AWST": 8, "JST": 9, "KST": 9, "AEST": 10, "AEDT": 11,
    "NZST": 12, "NZDT": 13, "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6, "PST": -8,
    "PDT": -7, "BRT": -3,
}  # fmt: skip

_FEE_COLUMNS = ("Commission (NC)", "Markup (NC)", "Scheme Fees (NC)", "Interchange (NC)")
# Stops a runaway download loop if a report server never answers 404.
_MAX_BATCHES = 100_000


class SettlementReports:
    """The merchant account's settlement details reports, downloaded with the API key
    (``report_url`` replaces Adyen's report host, for the test fake)."""

    def __init__(self, settings: AdyenSettings) -> None:
        self._api_key = settings.api_key
        if settings.report_url:
            self._base_url = settings.report_url.rstrip("/")
        else:
            self._base_url = (
                f"https://ca-{settings.environment}.adyen.com/reports/download/MerchantAccount/"
                f"{urllib.parse.quote(settings.merchant_account, safe='')}"
            )

    async def lines(self, since: datetime, until: datetime) -> list[SettlementLine]:
        """Rows of every settlement details report (batch 1, 2, ... until one is missing)
        whose Creation Date lies in [since, until)."""
        lines: list[SettlementLine] = []
        for batch in range(1, _MAX_BATCHES):
            text = await asyncio.to_thread(self._download, batch)
            if text is None:
                break
            for row in csv.DictReader(io.StringIO(text)):
                line = _settlement_line(row)
                if line is not None and line.occurred_at is not None and since <= line.occurred_at < until:
                    lines.append(line)
        return lines

    def _download(self, batch: int) -> str | None:
        """One report's CSV text, or None when that batch does not exist (yet)."""
        url = f"{self._base_url}/settlement_detail_report_batch_{batch}.csv"
        request = urllib.request.Request(url, headers={"X-API-Key": self._api_key})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                data: bytes = response.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise ProviderError(
                f"http_{exc.code}",
                f"settlement report batch {batch}: {exc.reason}",
                retryable=exc.code >= 500 or exc.code == 429,
                http_status=exc.code,
            ) from exc
        except OSError as exc:
            raise ProviderError("network_error", f"settlement report batch {batch}: {exc}", retryable=True) from exc
        return data.decode("utf-8-sig")


def _settlement_line(row: dict[str, str]) -> SettlementLine | None:
    kind = (row.get("Type") or "").strip()
    if kind not in ("Settled", "Refunded"):
        return None  # fees, payouts, chargebacks, corrections: not a payment movement of ours
    psp = (row.get("Psp Reference") or "").strip()
    currency = (row.get("Gross Currency") or "").strip().upper()
    if not psp or not currency:
        raise ProviderError("report_format", f"settlement report row without Psp Reference or currency: {row}")
    net_currency = (row.get("Net Currency") or "").strip().upper() or currency
    if kind == "Settled":
        amount = _minor(row.get("Gross Credit (GC)"), currency)
    else:
        amount = -_minor(row.get("Gross Debit (GC)"), currency)
    fee = sum(_minor(row.get(column), net_currency) for column in _FEE_COLUMNS)
    return SettlementLine(
        provider_ref=psp,
        payment_id=payment_id_of((row.get("Merchant Reference") or "").strip())
        or payment_id_of((row.get("Modification Merchant Reference") or "").strip()),
        kind="capture" if kind == "Settled" else "refund",
        amount_minor=amount,
        currency=currency,
        fee_minor=fee,
        occurred_at=_report_time(row.get("Creation Date"), row.get("TimeZone")),
        line_ref=(row.get("Modification Reference") or "").strip() or None,
    )


def _minor(text: str | None, currency: str) -> int:
    """A report amount ("12.34", "1234" for JPY) in minor units of ``currency``."""
    text = (text or "").strip().replace(",", "")
    if not text:
        return 0
    try:
        scaled = Decimal(text).scaleb(_EXPONENTS.get(currency, 2))
    except InvalidOperation as exc:
        raise ProviderError("report_format", f"not an amount in the settlement report: {text!r}") from exc
    if scaled != scaled.to_integral_value():
        raise ProviderError("report_format", f"{text} {currency} has more decimals than the currency")
    return int(scaled)


def _report_time(text: str | None, zone: str | None) -> datetime | None:
    if not text:
        return None
    try:
        local = datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S")
    except ValueError as exc:
        raise ProviderError("report_format", f"not a Creation Date: {text!r}") from exc
    zone = (zone or "UTC").strip().upper()
    offset = _ZONE_OFFSETS_H.get(zone)
    if offset is None:
        match = re.fullmatch(r"(?:UTC|GMT)?([+-])(\d{1,2}):?(\d{2})?", zone)
        if match is None:
            raise ProviderError("report_format", f"unknown time zone in the settlement report: {zone!r}")
        sign = 1 if match.group(1) == "+" else -1
        offset = sign * (int(match.group(2)) + int(match.group(3) or 0) / 60)
    return local.replace(tzinfo=timezone(timedelta(hours=offset))).astimezone(UTC)
