"""Receipts of paid sessions: JSON, a printable HTML page and a PDF.

A receipt exists only for a payment that took money (captured, partially or wholly
refunded). Its lines are the session's price components as priced at the end of the
session; when the capture was limited by the hold, one more line brings them down to the
amount captured, and the VAT shown is the VAT inside the amount captured. A session on a
fleet account has no receipt: it is a line of that account's monthly invoice.
"""
