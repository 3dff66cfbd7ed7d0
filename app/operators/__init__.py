"""Operators: the companies that own locations and chargers."""
