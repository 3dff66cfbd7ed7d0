"""The health phase of `make bench`: time to detect each kind of fault, whether the diagnosis
names the right cause, how well its confidence is calibrated, and false positives.

One fresh database and one ``laddnat run --no-seed`` process (API + bridge + health monitor
+ webhooks, health thresholds at their defaults, a short heartbeat interval so offline is
measured in seconds). Then, at once:

- the healthy fleet (bench/health/fleet.py): ``--health-fleet`` simulator chargers on sites of
  1-8, in ``--health-workers`` processes, charging, idling, heartbeating and now and then
  rebooting or changing networks, for ``--health-duration`` seconds;
- the faulty chargers, in this process: per kind of fault (bench/health/faults.py),
  ``--health-reps`` chargers, each on a site of its own with one healthy neighbour (a
  realistic site; where a site's chargers share a kind of trouble the monitor waits
  ``site_window_s`` to tell the site's problem from one charger's), injected one after
  another once every fleet charger has had its first session (25 s into the run).

Once the timed faults are done, while the fleet finishes: the corpus (bench/health/corpus.py),
every scripted fault and healthy routine of devtools/simulator/faults.py once, each on a site
of its own, scored against the fault's own kind and cause.

Time to detect: from the fault's onset (see bench/health/faults.py) to the incident showing in
``GET /api/v1/operator/incidents``, polled every 50 ms, newest first. Each row also gives
the webhook (``incident.opened`` to a receiver in this process, an endpoint made through
the API) and the incident's own ``openedAt`` (the monitor's commit; same machine clock).

False positives: after the fleet's sessions end it idles, heartbeating, for two heartbeat
intervals + the grace + the site window, so whatever its run set off has time to open;
then every incident not on a faulty charger (or a dark site, or a corpus fault's site) counts,
by kind; a corpus healthy routine's too.

Confidence calibration: every judged incident (each fault's first, each false positive) by
its confidence, against issue 14's target (>= 0.8 confident: at least 0.8 right).
"""

from bench.health.phase import run_health
from bench.health.results import HealthOptions, HealthResult

__all__ = ["HealthOptions", "HealthResult", "run_health"]
