"""Self-healing: a playbook per cause, step by step, each step verified before the next.

First the evidence: an incident the charger itself may explain (its firmware, meter, lock,
reader, temperature, the link to the car, or what only the anomaly model saw) asks it for
its diagnostics / log upload (1.6 GetDiagnostics, 2.0.1 GetLog) and attaches the file to
the incident; the first step waits for the upload, since a reset can cut it off.

Then an open incident runs its cause's playbook: a step sends a command through
``CommandService`` (audited with origin ``health``), then waits ``verify_s`` for the
incident to resolve (the detectors close it when the charger recovers); if it does not,
the next, stronger step follows; the last step takes the connectors out of service and
asks for a technician. Resets are rate-limited per charger, and never sent while someone
is charging unless that session is already lost (its connector faulted).

A fleet incident (one model and firmware in trouble across the network) is not healed by
resetting every charger of it: it tells the operator which firmware to look at. It runs
only its cause's protective steps (``PROTECTIVE``), on each member charger still in
trouble (on opening, and on each charger that joins later), and collects the log of its
first member alone.

One module per part:

- ``table``: the playbooks (``PLAYBOOKS``, ``Step``) and ``PlaybookSettings``
- ``events``: ``IncidentActionTaken``, and an incident on record as a playbook's input
- ``guards``: the daily reset limit, a session still charging, a recurrence awaited
- ``actions``: one step sent to one charger, noted in the trail and announced
- ``diagnostics``: the charger's logs asked for first and attached
- ``second_look``: fresh evidence before an EVSE is taken out of service
- ``fleet``: a fleet incident's protective steps on its members
- ``runner``: ``Remediator``, which runs them on the ``playbooks`` leader
"""

from app.health.playbooks.events import IncidentActionTaken
from app.health.playbooks.runner import Remediator
from app.health.playbooks.table import DIAGNOSED_CAUSES, PLAYBOOKS, PROTECTIVE, RESETS, PlaybookSettings, Step

__all__ = [
    "DIAGNOSED_CAUSES",
    "PLAYBOOKS",
    "PROTECTIVE",
    "RESETS",
    "IncidentActionTaken",
    "PlaybookSettings",
    "Remediator",
    "Step",
]
