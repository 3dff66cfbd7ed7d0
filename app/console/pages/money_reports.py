"""``/console/money/revenue`` (a chart, its table and the CSV), ``/invoices`` and
``/reconciliation``: the operator API's report, invoice and reconciliation services behind
the console's session (its providers: the same tenant scope and checks)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath
from litestar.response import Template

import app.console.pages.money_texts  # noqa: F401 (the pages' texts)
from app.billing.files import CSV, PDF, file_response
from app.billing.invoices.controllers import provide_invoices
from app.billing.invoices.pdf import render_invoice_pdf
from app.billing.invoices.service import InvoiceService
from app.billing.periods import check_range, utc_midnight
from app.billing.reconcile.controllers import provide_reconciler
from app.billing.reconcile.service import Reconciler
from app.billing.reports.controllers import provide_reports
from app.billing.reports.csv import revenue_csv
from app.billing.reports.schemas import RevenueReportOut
from app.billing.reports.service import ReportService
from app.console.gate import clock_of
from app.console.pages.money import paged
from app.console.render import render
from app.core.auth import can_bill
from app.core.errors import DomainError, InvalidInput
from app.core.http import PageParams
from app.tariffs.pricing import currency_exponent

DEFAULT_DAYS = 30
# A chart with more sites than this shows the biggest and sums the rest; the table has all.
MAX_SERIES = 8


@dataclass(frozen=True, slots=True)
class Range:
    """Whole UTC days, ``first`` to ``last`` inclusive, as the forms write them."""

    first: date
    last: date

    @property
    def since(self) -> datetime:
        return utc_midnight(self.first)

    @property
    def until(self) -> datetime:
        return utc_midnight(self.last + timedelta(days=1))

    def query(self) -> str:
        return f"from={self.first.isoformat()}&to={self.last.isoformat()}"


def read_range(request: Request[Any, Any, Any]) -> tuple[Range, dict[str, str]]:
    """The form's days (default: the last ``DEFAULT_DAYS`` to today, UTC) and any errors per field."""
    today = clock_of(request)().date()
    errors: dict[str, str] = {}
    days: dict[str, date] = {}
    for name, default in (("from", today - timedelta(days=DEFAULT_DAYS - 1)), ("to", today)):
        text = (request.query_params.get(name) or "").strip()
        try:
            days[name] = date.fromisoformat(text) if text else default
        except ValueError:
            errors[name] = "money.date_invalid"
            days[name] = default
    return Range(days["from"], days["to"]), errors


def chart_data(report: RevenueReportOut, currency: str | None) -> dict[str, Any] | None:
    """The chart's data (``data-chart`` on its box; console-money.js draws it): one series of
    revenue in major units per site, over every day of the range, in one currency."""
    rows = [r for r in report.rows if r.currency == currency]
    if not rows:
        return None
    first, last = report.since.date(), (report.until - timedelta(days=1)).date()
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    scale = 10 ** currency_exponent(currency or "")
    by_site: dict[str, dict[str, int]] = {}
    for r in rows:
        site = by_site.setdefault(r.group_name, {})
        site[r.period] = site.get(r.period, 0) + r.revenue_minor
    ranked = sorted(by_site, key=lambda name: -sum(by_site[name].values()))
    series = [(name, by_site[name]) for name in ranked[:MAX_SERIES]]
    if len(ranked) > MAX_SERIES:
        rest: dict[str, int] = {}
        for name in ranked[MAX_SERIES:]:
            for day, value in by_site[name].items():
                rest[day] = rest.get(day, 0) + value
        series.append(("…", rest))
    return {
        "currency": currency,
        "x": [int(utc_midnight(d).timestamp()) for d in days],
        "series": [
            {"label": name, "values": [values.get(d.isoformat(), 0) / scale for d in days]} for name, values in series
        ],
    }


class MoneyReportController(Controller):
    path = "/console/money"
    dependencies = {  # noqa: RUF012 (read once by Litestar)
        "reports": Provide(provide_reports, sync_to_thread=False),
        "invoices": Provide(provide_invoices, sync_to_thread=False),
        "reconciler": Provide(provide_reconciler, sync_to_thread=False),
    }

    @get("/revenue", name="console:revenue")
    async def revenue(self, request: Request[Any, Any, Any], reports: NamedDependency[ReportService]) -> Template:
        days, errors = read_range(request)
        report: RevenueReportOut | None = None
        if not errors:
            try:
                report = await reports.revenue(days.since, days.until, "location", "day")
            except InvalidInput as err:
                errors["to" if err.extra.get("field") == "to" else "from"] = err.detail
        chart = None
        if report is not None and report.totals:
            # The currency with the most revenue is charted; the table lists every currency.
            main = max(report.totals, key=lambda total: total.revenue_minor).currency
            chart = chart_data(report, main)
        return render(
            request,
            "console/money/revenue.html",
            nav="money",
            section="revenue",
            days=days,
            errors=errors,
            values={name: request.query_params.get(name) or "" for name in ("from", "to")},
            report=report,
            chart=chart,
            chart_json=json.dumps(chart) if chart else "",
            status_code=422 if errors else 200,
        )

    @get("/revenue.csv", name="console:revenue-csv")
    async def revenue_csv(
        self, request: Request[Any, Any, Any], reports: NamedDependency[ReportService]
    ) -> Response[bytes]:
        days, errors = read_range(request)
        if errors:
            raise InvalidInput("from and to must be dates (YYYY-MM-DD)", field=next(iter(errors)))
        report = await reports.revenue(days.since, days.until, "location", "day")
        name = f"revenue-location-day-{days.first:%Y%m%d}-{days.last + timedelta(days=1):%Y%m%d}.csv"
        return file_response(revenue_csv(report), CSV, name, attachment=True)

    @get("/invoices", name="console:invoices")
    async def invoices_list(
        self,
        request: Request[Any, Any, Any],
        invoices: NamedDependency[InvoiceService],
        page: NamedDependency[PageParams],
    ) -> Template:
        page = paged(page)
        rows, total = await invoices.search(limit=page.limit, offset=page.offset)
        return render(
            request, "console/money/invoices.html", nav="money", section="invoices", rows=rows, total=total, page=page
        )

    @get("/invoices/{invoice_id:uuid}/invoice.pdf", name="console:invoice-pdf")
    async def invoice_pdf(
        self, invoice_id: FromPath[uuid.UUID], invoices: NamedDependency[InvoiceService]
    ) -> Response[bytes]:
        invoice = await invoices.out(await invoices.get(invoice_id))
        return file_response(render_invoice_pdf(invoice), PDF, f"invoice-{invoice.number}.pdf")

    @get("/reconciliation", name="console:reconciliation")
    async def reconciliation(self, request: Request[Any, Any, Any]) -> Template:
        days, _ = read_range(request)
        return self._reconciliation_page(request, days)

    @post("/reconciliation", name="console:reconcile", operation_id="Reconcile", guards=[can_bill], status_code=200)
    async def reconcile(self, request: Request[Any, Any, Any], reconciler: NamedDependency[Reconciler]) -> Template:
        """Reconciling changes nothing (the API takes it as a POST too): the answer is the page
        with the result, or the API's problem next to the form."""
        form = await request.form()
        provider = str(form.get("provider") or "")
        errors: dict[str, str] = {}
        parsed: dict[str, date] = {}
        for name in ("from", "to"):
            try:
                parsed[name] = date.fromisoformat(str(form.get(name) or "").strip())
            except ValueError:
                errors[name] = "money.date_invalid"
        today = clock_of(request)().date()
        days = Range(parsed.get("from", today - timedelta(days=DEFAULT_DAYS - 1)), parsed.get("to", today))
        if errors:
            return self._reconciliation_page(request, days, provider=provider, errors=errors, status_code=422)
        try:
            check_range(days.since, days.until)
            result = await reconciler.run(provider, days.since, days.until)
        except DomainError as err:
            if err.status == 422 and err.extra.get("field") in ("from", "to"):
                errors[err.extra["field"]] = err.detail
                return self._reconciliation_page(request, days, provider=provider, errors=errors, status_code=422)
            return self._reconciliation_page(
                request, days, provider=provider, problem=err.detail, status_code=err.status
            )
        return self._reconciliation_page(request, days, provider=provider, result=result)

    def _reconciliation_page(
        self, request: Request[Any, Any, Any], days: Range, *, status_code: int = 200, **context: Any
    ) -> Template:
        context.setdefault("errors", {})
        return render(
            request,
            "console/money/reconciliation.html",
            nav="money",
            section="reconciliation",
            days=days,
            providers=request.app.state.providers.names,
            status_code=status_code,
            **context,
        )
