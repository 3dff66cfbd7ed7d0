"""Roaming CDRs: a charge detail record for every ended roaming session, pushed to the
partner and served from the CDRs module (sender)."""
