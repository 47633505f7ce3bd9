"""behave hooks: every scenario gets a world of its own against the Roster
at ROSTER_URL (a `roster serve` in test mode, ROSTER_TEST_MODE=1)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "steps"))

from roster import World  # noqa: E402  (steps/ is on the path from here on)


def before_scenario(context, scenario):
    context.world = World(os.environ.get("ROSTER_URL", "http://127.0.0.1:8080/"))
