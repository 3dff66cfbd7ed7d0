"""The pure parts of receipts, invoices, reports and reconciliation: no database."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.billing.formatting import local_time
from app.billing.invoices.numbering import counter_name, invoice_number
from app.billing.invoices.pdf import render_invoice_pdf
from app.billing.invoices.schemas import InvoiceLineOut, InvoiceOut, InvoicePartyOut
from app.billing.invoices.vat import vat_summary
from app.billing.pdf import latin1
from app.billing.periods import check_range, month_period
from app.billing.receipts.lines import receipt_lines, vat_lines
from app.billing.receipts.render import render_receipt_html, render_receipt_pdf
from app.billing.receipts.schemas import ReceiptOut, SellerOut
from app.billing.reconcile.compare import Side, Unit, compare, totals_of
from app.billing.reports.aggregate import SessionRow, aggregate_revenue, revenue_totals
from app.core.errors import InvalidInput
from app.core.spreadsheet import to_csv
from app.tariffs.pricing import Price, PriceComponent, vat_of

T0 = datetime(2026, 3, 5, 13, 0, tzinfo=UTC)


def a_price(*amounts: int, rate: int = 2500) -> Price:
    kinds = ["energy", "session_fee", "idle"]
    total = sum(amounts)
    vat = vat_of(total, rate)
    return Price(
        currency="SEK",
        total_minor=total,
        net_minor=total - vat,
        vat_minor=vat,
        vat_rate_bp=rate,
        energy_wh=12_000,
        charging_seconds=3600,
        idle_seconds=0,
        components=tuple(
            PriceComponent(
                kind=kinds[i],  # type: ignore[arg-type]
                quantity=12.0 if i == 0 else 1,
                unit_price_minor=a,
                band="22:00–06:00" if i == 0 else None,
                amount_minor=a,
            )
            for i, a in enumerate(amounts)
        ),
    )


def a_receipt(**changes: object) -> ReceiptOut:
    price = a_price(4188, 500)
    fields: dict[str, object] = {
        "payment_id": uuid.UUID(int=7),
        "transaction_id": uuid.UUID(int=8),
        "transaction_number": 42,
        "operator_name": "Laddnät Ström & Söner AB",
        "operator_key": "SE*LAD",
        "location_name": "Åre Östra <Torget>",
        "location_address": "Storgatan 1, 837 52 Åre",
        "time_zone": "Europe/Stockholm",
        "evse_id": "SE*LAD*E0001*1",
        "charge_point": "CP-1",
        "started_at": T0 - timedelta(hours=1),
        "stopped_at": T0,
        "energy_wh": 12_000.0,
        "charging_seconds": 3600.0,
        "idle_seconds": 0.0,
        "tariff_name": "Natt – billig",
        "currency": "SEK",
        "lines": receipt_lines(price, 4688),
        "price_minor": 4688,
        "captured_minor": 4688,
        "refunded_minor": 0,
        "paid_minor": 4688,
        "vat": vat_lines(4688, 2500),
        "refunds": [],
        "payment_status": "captured",
        "provider": "stripe",
        "method_brand": "visa",
        "method_last4": "4242",
        "method_wallet": "apple_pay",
        "captured_at": T0,
        "receipt_number": "LAD-R2026-000042",
        "issued_at": T0,
        "seller": SellerOut(legal_name="Laddnät Ström & Söner AB", vat_number="SE556677889901"),
        "credit_notes": [],
    }
    fields.update(changes)
    return ReceiptOut(**fields)  # type: ignore[arg-type]


# -- receipts ------------------------------------------------------------------------------------


def test_receipt_lines_are_the_price_components() -> None:
    lines = receipt_lines(a_price(4188, 500), 4688)
    assert [(line.kind, line.amount_minor) for line in lines] == [("energy", 4188), ("session_fee", 500)]
    assert lines[0].description == "Energy (22:00–06:00)" and lines[0].unit == "kWh"


def test_a_capture_capped_by_the_hold_adds_a_line_down_to_it() -> None:
    lines = receipt_lines(a_price(40_000, 500), 30_000)
    assert lines[-1].kind == "hold_limit" and lines[-1].amount_minor == -10_500
    assert sum(line.amount_minor for line in lines) == 30_000


def test_vat_lines_split_the_gross_exactly() -> None:
    [line] = vat_lines(4688, 2500)
    assert (line.net_minor, line.vat_minor, line.gross_minor) == (3750, 938, 4688)


def test_receipt_times_are_shown_on_the_location_clock() -> None:
    assert local_time(T0, "Europe/Stockholm") == "2026-03-05 14:00 CET"
    assert local_time(datetime(2026, 7, 1, 10, tzinfo=UTC), "Europe/Stockholm") == "2026-07-01 12:00 CEST"
    assert local_time(T0, "Not/AZone") == "2026-03-05 13:00 UTC"
    assert local_time(None, "UTC") == "–"


def test_receipt_html_is_escaped_and_self_contained() -> None:
    html = render_receipt_html(a_receipt())
    assert "SE*LAD*E0001*1" in html
    assert "46.88 SEK" in html and "9.38 SEK" in html and "37.50 SEK" in html
    assert "Åre Östra &lt;Torget&gt;" in html and "<Torget>" not in html
    assert "Ström &amp; Söner" in html
    assert "2026-03-05 14:00 CET" in html
    assert "VISA •••• 4242 (apple pay)" in html
    assert "<script" not in html and "<link" not in html and "src=" not in html


@pytest.mark.parametrize("unicode_font", [True, False])
def test_receipt_pdf_renders_swedish_text_with_either_font(unicode_font: bool) -> None:
    pdf = render_receipt_pdf(a_receipt(), use_unicode_font=unicode_font)
    assert pdf.startswith(b"%PDF") and pdf.rstrip().endswith(b"%%EOF")


def test_latin1_keeps_swedish_letters_and_replaces_the_rest() -> None:
    assert latin1("Åre Östra Gärdet") == "Åre Östra Gärdet"
    assert latin1("Natt – “billig” … 5 €") == 'Natt - "billig" ... 5 EUR'
    assert latin1("Łódź ŠKODA 充电 🔌") == "Lódz SKODA ?? ?"
    latin1("".join(chr(c) for c in range(0x20, 0x3000))).encode("latin-1")


@given(st.text())
def test_latin1_output_always_encodes(text: str) -> None:
    latin1(text).encode("latin-1")


# -- invoices ------------------------------------------------------------------------------------


def test_month_period_is_the_calendar_month_end_exclusive() -> None:
    assert month_period("2026-02") == (date(2026, 2, 1), date(2026, 3, 1))
    assert month_period("2025-12") == (date(2025, 12, 1), date(2026, 1, 1))
    with pytest.raises(InvalidInput):
        month_period("2026-13")


def test_invoice_numbers_and_counter_names() -> None:
    assert invoice_number("LAD", 2026, 7) == "LAD-2026-000007"
    name = counter_name(uuid.uuid4(), 2026)
    assert len(name) <= 32  # counters.name is String(32)
    assert counter_name(uuid.UUID(int=1), 2026) != counter_name(uuid.UUID(int=2), 2026)
    assert counter_name(uuid.UUID(int=1), 2026) != counter_name(uuid.UUID(int=1), 2027)


def a_line(total: int, rate: int, n: int = 1) -> InvoiceLineOut:
    vat = vat_of(total, rate)
    return InvoiceLineOut(
        transaction_id=uuid.UUID(int=n),
        transaction_number=n,
        id_token="FLEET-1",
        evse_id="SE*LAD*E0001*1",
        location="Åre",
        started_at=T0 - timedelta(hours=1),
        stopped_at=T0,
        energy_wh=10_000.5,
        vat_rate_bp=rate,
        net_minor=total - vat,
        vat_minor=vat,
        total_minor=total,
    )


def test_vat_summary_extracts_each_rates_vat_from_its_gross_sum() -> None:
    lines = [a_line(101, 2500), a_line(101, 2500), a_line(101, 2500), a_line(999, 1200), a_line(1, 0)]
    summary = vat_summary(lines)
    assert [(v.rate_bp, v.total_minor) for v in summary] == [(0, 1), (1200, 999), (2500, 303)]
    assert [v.vat_minor for v in summary] == [0, vat_of(999, 1200), vat_of(303, 2500)]
    # Summed per line, 25 % VAT would be 3 x 20 = 60; extracted once from 303 it is 61.
    assert sum(line.vat_minor for line in lines if line.vat_rate_bp == 2500) == 60
    assert summary[2].vat_minor == 61
    assert all(v.net_minor + v.vat_minor == v.total_minor for v in summary)


@given(st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from([0, 600, 1200, 2500])), max_size=40))
def test_vat_summary_always_adds_up(items: list[tuple[int, int]]) -> None:
    summary = vat_summary([a_line(total, rate, i) for i, (total, rate) in enumerate(items)])
    assert sum(v.total_minor for v in summary) == sum(total for total, _ in items)
    for v in summary:
        assert v.net_minor + v.vat_minor == v.total_minor and v.vat_minor == vat_of(v.total_minor, v.rate_bp)


@pytest.mark.parametrize("unicode_font", [True, False])
def test_invoice_pdf_renders(unicode_font: bool) -> None:
    lines = [a_line(4688, 2500, 1), a_line(1200, 1200, 2)]
    vat = vat_summary(lines)
    invoice = InvoiceOut(
        id=uuid.UUID(int=9),
        number="LAD-2026-000001",
        operator_id=uuid.UUID(int=1),
        fleet_account_id=uuid.UUID(int=2),
        seller=InvoicePartyOut(name="Laddnät Söder AB"),
        buyer=InvoicePartyOut(name="Åkeri Ström AB", organisation_number="556677-8899", address="Hamngatan 2"),
        period_start=date(2026, 2, 1),
        period_end=date(2026, 3, 1),
        time_zone="UTC",
        currency="SEK",
        net_minor=sum(v.net_minor for v in vat),
        vat_minor=sum(v.vat_minor for v in vat),
        total_minor=sum(v.total_minor for v in vat),
        vat=vat,
        lines=lines,
        issued_at=T0,
        due_on=date(2026, 4, 4),
        notes="Tack för att ni laddar hos oss – välkomna åter!",
    )
    assert render_invoice_pdf(invoice, use_unicode_font=unicode_font).startswith(b"%PDF")


# -- reports -------------------------------------------------------------------------------------

LOC_A, LOC_B = uuid.UUID(int=1), uuid.UUID(int=2)
CP_1, CP_2, CP_3 = uuid.UUID(int=11), uuid.UUID(int=12), uuid.UUID(int=13)


def row(at: datetime, loc: uuid.UUID, cp: uuid.UUID, **kw: object) -> SessionRow:
    names = {LOC_A: "A", LOC_B: "B", CP_1: "cp1", CP_2: "cp2", CP_3: "cp3"}
    return SessionRow(
        at=at,
        location_id=loc,
        location_name=names[loc],
        charger_id=cp,
        charger_name=names[cp],
        currency=str(kw.pop("currency", "SEK")),
        energy_wh=float(kw.pop("energy_wh", 1000.0)),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def test_revenue_is_grouped_by_location_or_charger_and_utc_day_or_month() -> None:
    d1, d2 = datetime(2026, 3, 1, 23, 59, tzinfo=UTC), datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
    rows = [
        row(d1, LOC_A, CP_1, captured_minor=1000, refunded_minor=100),
        row(d1, LOC_A, CP_2, captured_minor=500),
        row(d2, LOC_A, CP_1, on_account_minor=700, on_account=True, energy_wh=2500.4),
        row(d2, LOC_B, CP_3, captured_minor=300, currency="EUR"),
    ]
    by_day = aggregate_revenue(rows, "location", "day")
    assert [(r.period, r.group_name, r.currency, r.sessions, r.revenue_minor) for r in by_day] == [
        ("2026-03-01", "A", "SEK", 2, 1400),
        ("2026-03-02", "A", "SEK", 1, 700),
        ("2026-03-02", "B", "EUR", 1, 300),
    ]
    assert (by_day[1].on_account_sessions, by_day[1].paid_sessions, by_day[1].energy_wh) == (1, 0, 2500)
    by_month = aggregate_revenue(rows, "charger", "month")
    assert [(r.group_name, r.revenue_minor, r.refunded_minor) for r in by_month] == [
        ("cp1", 1600, 100),
        ("cp2", 500, 0),
        ("cp3", 300, 0),
    ]
    totals = revenue_totals(by_month)
    assert [(t.currency, t.sessions, t.revenue_minor) for t in totals] == [("EUR", 1, 300), ("SEK", 3, 2100)]


def test_report_ranges_are_checked() -> None:
    with pytest.raises(InvalidInput):
        check_range(T0, T0)
    with pytest.raises(InvalidInput):
        check_range(T0, T0 + timedelta(days=401))
    with pytest.raises(InvalidInput):
        check_range(T0.replace(tzinfo=None), T0 + timedelta(days=1))
    check_range(T0, T0 + timedelta(days=31))


def test_csv_has_a_header_and_defuses_formulas() -> None:
    text = to_csv(["name", "amount", "at"], [["=HYPERLINK(1)", -5, T0], ["Åre, Östra", 3, None]])
    assert text.startswith("name,amount,at\r\n")
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed[1] == ["'=HYPERLINK(1)", "-5", "2026-03-05T13:00:00Z"]
    assert parsed[2] == ["Åre, Östra", "3", ""]


# -- reconciliation ----------------------------------------------------------------------------

SINCE, UNTIL = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)
INSIDE, BEFORE, AFTER = SINCE + timedelta(days=3), SINCE - timedelta(hours=2), UNTIL + timedelta(hours=2)


def side(amount: int, at: datetime | None, currency: str = "SEK", fee: int = 0) -> Side:
    s = Side()
    s.add(amount, currency, at, "txn", fee)
    return s


def unit(n: int, ours: Side | None, psp: Side | None, entry: str = "capture", **kw: object) -> Unit:
    return Unit(entry=entry, payment_id=uuid.UUID(int=n), provider_ref=f"pi_{n}", ours=ours, psp=psp, **kw)  # type: ignore[arg-type]


def test_compare_reports_each_kind_of_mismatch() -> None:
    units = [
        unit(1, side(100, INSIDE), side(100, INSIDE, fee=3)),
        unit(2, side(100, INSIDE), None),
        unit(3, None, side(100, INSIDE), our_status="cancelled"),
        unit(4, side(100, INSIDE), side(99, INSIDE)),
        unit(5, side(100, INSIDE), side(100, INSIDE, "EUR")),
        unit(6, side(-40, INSIDE), side(-40, None), entry="refund"),
        Unit(entry="capture", payment_id=None, provider_ref="pi_x", psp=side(5, INSIDE)),
    ]
    matched, mismatches = compare(units, SINCE, UNTIL)
    assert matched == 2
    assert [(m.kind, m.payment_id.int if m.payment_id else None) for m in mismatches] == [
        ("missing", 2),
        ("extra", 3),
        ("extra", None),
        ("wrong_amount", 4),
        ("currency_mismatch", 5),
    ]
    assert "cancelled" in mismatches[1].detail and "do not know" in mismatches[2].detail
    assert (mismatches[3].ours_minor, mismatches[3].psp_minor) == (100, 99)
    [sek, eur] = sorted(totals_of(units, SINCE, UNTIL), key=lambda t: t.currency != "SEK")
    assert (sek.ours_captured_minor, sek.psp_captured_minor, sek.psp_fee_minor) == (400, 304, 3)
    assert (sek.ours_refunded_minor, sek.psp_refunded_minor) == (-40, -40)
    assert eur.psp_captured_minor == 100


def test_compare_pairs_entries_across_the_range_edges() -> None:
    units = [
        # Ours inside, the PSP's just after the end: matched.
        unit(1, side(100, UNTIL - timedelta(minutes=5)), side(100, AFTER)),
        # Both outside: another period's business.
        unit(2, side(100, BEFORE), None),
        unit(3, None, side(100, AFTER)),
    ]
    matched, mismatches = compare(units, SINCE, UNTIL)
    assert (matched, mismatches) == (1, [])
