"""Laddnät: the domain and the HTTP API of the charging network."""
