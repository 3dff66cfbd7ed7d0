"""Where our OCPI interface lives: {public_base_url}/ocpi/versions, the 2.2.1 details at
/ocpi/2.2.1, each module at /ocpi/2.2.1/{module}. Every module's controller mounts at the
path named here, and the version details list exactly these."""

from __future__ import annotations

VERSION = "2.2.1"
ROOT = "/ocpi"
VERSIONS_PATH = f"{ROOT}/versions"
VERSION_PATH = f"{ROOT}/{VERSION}"

# (module identifier, our role in it): we are the CPO.
MODULES: tuple[tuple[str, str], ...] = (
    ("credentials", "SENDER"),
    ("credentials", "RECEIVER"),
    ("locations", "SENDER"),
    ("sessions", "SENDER"),
    ("cdrs", "SENDER"),
    ("tariffs", "SENDER"),
    ("tokens", "RECEIVER"),
    ("commands", "RECEIVER"),
    ("chargingprofiles", "RECEIVER"),
    ("hubclientinfo", "RECEIVER"),
)


def module_path(module: str) -> str:
    """The path of ``module`` below the router: /2.2.1/locations (the router adds /ocpi)."""
    return f"/{VERSION}/{module}"


def module_url(public_base_url: str, module: str) -> str:
    return f"{public_base_url.rstrip('/')}{VERSION_PATH}/{module}"
