"""The operator API's roaming partners: issue token A, register with a partner, unregister,
and the push log. Also what `laddnat ocpi` calls."""
