"""Reconciliation: our ledger of captures and refunds against what the PSP says it moved
(Stripe balance transactions, Adyen's settlement details report).

The unit compared is one payment's capture, or the sum of one payment's refunds, keyed by
our payment id (the PSP line's ``payment_id``, else found by its ``provider_ref``). Both
sides are read over the range widened by ``slack`` on each side, so that a capture we
recorded at 23:59 and the PSP booked at 00:01 still meet; a unit is reported when either
side has a part of it inside [since, until). Amounts use the PSP's sign: captures
positive, refunds negative.

- missing: we captured or refunded; the PSP has no line for it;
- extra: the PSP moved money we have no capture or refund for (or no payment at all);
- wrong_amount: both sides, different sums;
- currency_mismatch: both sides, different currencies.
"""
