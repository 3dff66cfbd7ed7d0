"""The no-account web checkout behind a charger's QR code: ``/c/{evse_id}``.

Price and live status, the PSP's own payment element, a status page behind a secret link
with a stop button, and the receipt. English and Swedish.
"""
