"""`python -m devtools.simulator ...`: the same as `laddnat simulate ...`."""

from __future__ import annotations

import argparse
import asyncio

from devtools.simulator.cli import add_cli_arguments, run_simulation


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.simulator")
    add_cli_arguments(parser)
    try:
        return asyncio.run(run_simulation(parser.parse_args(argv)))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
