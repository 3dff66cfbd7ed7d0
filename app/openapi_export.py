"""Write the HTTP API's OpenAPI document to ``openapi/openapi.json``.

``python -m app.openapi_export`` after changing a route or a schema; a test fails while
the file and the code disagree.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from app.core.settings import AuthSettings, Settings
from app.main import create_app

DEFAULT_PATH = "openapi/openapi.json"
# The document does not depend on the key; create_app only needs one to exist.
_EXPORT_SECRET = "openapi-export-dummy-secret-not-for-use-0000"


def render() -> str:
    app = create_app(Settings(auth=AuthSettings(secret_key=_EXPORT_SECRET)))
    return json.dumps(app.openapi_schema.to_schema(), indent=2, sort_keys=True) + "\n"


def export(path: str | Path = DEFAULT_PATH) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(), encoding="utf-8")
    return target


if __name__ == "__main__":
    written = export(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_PATH)
    print(f"wrote {written}")
