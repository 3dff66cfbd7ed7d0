"""The settlement details report: rows booked by a test, in batches, downloadable as Adyen's CSV."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from aiohttp import web

from devtools.fakes.adyen.state import AdyenState

# The settlement details report's columns, in Adyen's default order.
REPORT_COLUMNS = [
    "Company Account", "Merchant Account", "Psp Reference", "Merchant Reference", "Payment Method",
    "Creation Date", "TimeZone", "Type", "Modification Reference", "Gross Currency", "Gross Debit (GC)",
    "Gross Credit (GC)", "Exchange Rate", "Net Currency", "Net Debit (NC)", "Net Credit (NC)",
    "Commission (NC)", "Markup (NC)", "Scheme Fees (NC)", "Interchange (NC)", "Payment Method Variant",
    "Modification Merchant Reference", "Batch Number", "Reserved4", "Reserved5", "Reserved6", "Reserved7",
    "Reserved8", "Reserved9", "Reserved10",
]  # fmt: skip

_ZERO_DECIMAL = set("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF".split())
_THREE_DECIMAL = set("BHD IQD JOD KWD LYD OMR TND".split())


def exponent(currency: str) -> int:
    return 0 if currency in _ZERO_DECIMAL else 3 if currency in _THREE_DECIMAL else 2


def format_amount(minor: int, currency: str) -> str:
    """Minor units as the report writes them: ``1234`` EUR -> ``12.34``, JPY -> ``1234``."""
    exp = exponent(currency)
    return str(Decimal(minor).scaleb(-exp).quantize(Decimal(1).scaleb(-exp)))


class SettlementReportMixin(AdyenState):
    """Part of AdyenFake: the settlement details report."""

    def add_report_row(self, **columns: str) -> None:
        """Add a row to the open batch, columns by their report names (missing ones empty)."""
        row = dict.fromkeys(REPORT_COLUMNS, "")
        row.update(
            {
                "Company Account": self.company_account,
                "Merchant Account": self.merchant_account,
                "Batch Number": str(len(self._report_batches)),
            }
        )
        row.update(columns)
        self._report_batches[-1].append(row)

    def add_settlement_row(
        self,
        type: str,
        psp_reference: str,
        merchant_reference: str,
        amount_minor: int,
        currency: str,
        *,
        modification_reference: str = "",
        modification_merchant_reference: str = "",
        at: datetime | None = None,
        commission_minor: int = 0,
        markup_minor: int = 0,
        payment_method: str = "visa",
    ) -> None:
        """A Settled (credit) or Refunded (debit) row, amounts in minor units."""
        local_zone = timezone(timedelta(hours=self.report_zone[1]))
        when = (at or self.clock()).astimezone(local_zone)
        gross = format_amount(amount_minor, currency)
        fees = commission_minor + markup_minor
        net = format_amount(amount_minor - fees if type == "Settled" else amount_minor + fees, currency)
        self.add_report_row(
            **{
                "Psp Reference": psp_reference,
                "Merchant Reference": merchant_reference,
                "Payment Method": payment_method,
                "Creation Date": when.strftime("%Y-%m-%d %H:%M:%S"),
                "TimeZone": self.report_zone[0],
                "Type": type,
                "Modification Reference": modification_reference,
                "Gross Currency": currency,
                "Gross Debit (GC)": gross if type != "Settled" else "",
                "Gross Credit (GC)": gross if type == "Settled" else "",
                "Exchange Rate": "1",
                "Net Currency": currency,
                "Net Debit (NC)": net if type != "Settled" else "",
                "Net Credit (NC)": net if type == "Settled" else "",
                "Commission (NC)": format_amount(commission_minor, currency) if commission_minor else "",
                "Markup (NC)": format_amount(markup_minor, currency) if markup_minor else "",
                "Payment Method Variant": payment_method,
                "Modification Merchant Reference": modification_merchant_reference,
            }
        )

    def close_batch(self) -> int:
        """Close the open batch (its report stays downloadable); later rows go to the next.
        Returns the closed batch's number."""
        self._report_batches.append([])
        return len(self._report_batches) - 1

    def report_csv(self, batch: int) -> str | None:
        """The report of batch ``batch`` (1-based), or None: no such batch or it is empty."""
        if not 1 <= batch <= len(self._report_batches) or not self._report_batches[batch - 1]:
            return None
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=REPORT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self._report_batches[batch - 1])
        return out.getvalue()

    async def _report(self, request: web.Request) -> web.Response:
        if request.match_info["merchant"] != self.merchant_account:
            return web.Response(status=403, text="Forbidden")
        text = self.report_csv(int(request.match_info["batch"]))
        if text is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(text=text, content_type="text/csv")
