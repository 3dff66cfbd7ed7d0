"""A second OCPI 2.2.1 party for the tests and the developer: a small but genuine eMSP.

It is an independent party: its own Litestar app and in-memory state, and nothing of
Laddnät's (no ``app`` import), so the handshake and the pushes are tested against OCPI as
the spec writes it, not against our own reading twice. What it does:

- versions and 2.2.1 version details (the versions it offers are configurable, to play a
  partner without 2.2.1; the modules too, to play one without a module);
- credentials both ways: it registers with a CPO given its versions URL and token A
  (``register_with``), and a CPO registers with it with a token A it issued
  (``issue_token``); update (PUT) and unregister (DELETE) either way;
- receivers for locations, sessions, tariffs (PUT, PATCH, DELETE, GET of what it holds) and
  cdrs (POST answered with a Location header, GET by that URL);
- a tokens sender: the paginated list of its tokens, and real-time authorisation by its own
  rules (allowed, blocked ... per uid; unknown uids 2004) after a configurable delay;
- the receiver of command results at the response_url it puts in a command.

    async with emsp_party() as party:          # listening on a free loopback port
        token_a = party.issue_token()          # ... for the CPO to register with us
        await party.register_with(cpo_versions_url, cpo_token_a)   # ... or we with the CPO

Also runnable alone: ``python -m devtools.fakes.ocpi --port 9100``.
"""

from devtools.fakes.ocpi.party import EmspConfig, EmspParty
from devtools.fakes.ocpi.server import emsp_party
from devtools.fakes.ocpi.wire import RegistrationRefused

__all__ = ["EmspConfig", "EmspParty", "RegistrationRefused", "emsp_party"]
