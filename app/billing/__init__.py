"""Billing: what charging sessions cost and the money around them (holds, settlement, receipts, invoices, reports, reconciliation)."""
