"""The owner reports as CSV text: a header row of the JSON field names, then one row per item."""

from __future__ import annotations

from app.billing.reports.roaming import RoamingRevenueReportOut
from app.billing.reports.schemas import HoldReportOut, RefundReportOut, RevenueReportOut
from app.core.spreadsheet import to_csv


def revenue_csv(report: RevenueReportOut) -> str:
    header = [
        "period",
        "groupId",
        "groupName",
        "currency",
        "sessions",
        "paidSessions",
        "onAccountSessions",
        "energyWh",
        "capturedMinor",
        "refundedMinor",
        "onAccountMinor",
        "revenueMinor",
    ]
    return to_csv(
        header,
        (
            [
                r.period,
                r.group_id,
                r.group_name,
                r.currency,
                r.sessions,
                r.paid_sessions,
                r.on_account_sessions,
                r.energy_wh,
                r.captured_minor,
                r.refunded_minor,
                r.on_account_minor,
                r.revenue_minor,
            ]
            for r in report.rows
        ),
    )


def refunds_csv(report: RefundReportOut) -> str:
    header = [
        "id",
        "paymentId",
        "seq",
        "amountMinor",
        "currency",
        "status",
        "reason",
        "provider",
        "providerRef",
        "evseId",
        "location",
        "createdAt",
    ]
    return to_csv(
        header,
        (
            [
                r.id,
                r.payment_id,
                r.seq,
                r.amount_minor,
                r.currency,
                r.status,
                r.reason,
                r.provider,
                r.provider_ref,
                r.evse_id,
                r.location,
                r.created_at,
            ]
            for r in report.items
        ),
    )


def holds_csv(report: HoldReportOut) -> str:
    header = [
        "paymentId",
        "status",
        "provider",
        "providerRef",
        "currency",
        "holdMinor",
        "evseId",
        "location",
        "transactionId",
        "heldSince",
        "ageSeconds",
    ]
    return to_csv(
        header,
        (
            [
                r.payment_id,
                r.status,
                r.provider,
                r.provider_ref,
                r.currency,
                r.hold_minor,
                r.evse_id,
                r.location,
                r.transaction_id,
                r.held_since,
                r.age_seconds,
            ]
            for r in report.items
        ),
    )


def roaming_revenue_csv(report: RoamingRevenueReportOut) -> str:
    header = ["partnerId", "partnerName", "countryCode", "partyId", "currency", "cdrs", "energyWh", "revenueMinor"]
    return to_csv(
        header,
        (
            [r.partner_id, r.partner_name, r.country_code, r.party_id, r.currency, r.cdrs, r.energy_wh, r.revenue_minor]
            for r in report.rows
        ),
    )
