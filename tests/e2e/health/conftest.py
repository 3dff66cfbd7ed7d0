from tests.e2e.health.health_stack import health  # noqa: F401 (fixture)
