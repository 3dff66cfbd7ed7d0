"""Fleet accounts and their monthly invoices.

A fleet account is a business whose drivers charge on account: every completed, priced
session started with one of its id tokens goes on the account's invoice of the month the
session stopped in. Months are calendar months in UTC (a session stopping at 00:30 Swedish
time on the 1st belongs to the month before); the invoice says so.

Invoice numbers are gapless per operator and year (``LAD-2026-000001``, the party id first): the
counter is taken in the same database transaction as the insert, so a failed or empty
issue consumes no number, and on PostgreSQL the counter row lock orders concurrent issues.

VAT: each rate's VAT is extracted once from the sum of that rate's gross amounts (the way an
invoice states VAT), so per rate ``net + vat = gross`` exactly and the invoice totals are
the sums of the rate totals. A line still shows the VAT its session was priced with; the
two can differ by rounding, and the per-rate summary is what counts.
"""
