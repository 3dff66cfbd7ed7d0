"""``python -m devtools.fakes.ocpi --port N``: the fake eMSP on its own, printing its token A."""

from __future__ import annotations

import argparse
import asyncio

from devtools.fakes.ocpi.party import EmspConfig
from devtools.fakes.ocpi.server import serve_forever


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devtools.fakes.ocpi", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--country", default="NL", help="its country code (default NL)")
    parser.add_argument("--party", default="EMP", help="its party id (default EMP)")
    parser.add_argument("--token", action="append", default=[], help="a token uid it knows (ALLOWED); repeatable")
    args = parser.parse_args()
    config = EmspConfig(country_code=args.country, party_id=args.party)
    asyncio.run(serve_forever(config, host=args.host, port=args.port, token_uids=args.token))


if __name__ == "__main__":
    main()
