"""The operator console: server-rendered pages for an operator company's staff at ``/console``.

Pages call the same services as the operator API with the same ``Caller``
(app/core/auth.py); a cookie session (sessions.py) stands in for the bearer token.
"""
