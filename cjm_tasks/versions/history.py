"""The barriers of a map version and their course across versions: which barriers a map lists
(at a stage or unplaced), and each barrier's severity and status version after version.
"""

from __future__ import annotations

from typing import Any

UNPLACED = "unplaced"  # the stage of a barrier listed under a map's ``unplaced`` (at no particular stage)


def active_barriers(doc: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Every barrier listed in ``doc`` (stages and unplaced), with its ``stage``."""
    if not doc:
        return {}
    found = {b["id"]: {**b, "stage": s["id"]} for s in doc["stages"] for b in s["barriers"]}
    found.update({b["id"]: {**b, "stage": UNPLACED} for b in doc.get("unplaced", [])})
    return found


def barrier_history(versions: list[tuple[str, dict[str, Any], dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Every barrier's severity and status across versions.

    ``versions``: ``[(version id, map, diff)]`` in order. Returns {barrier id: {title, kind,
    stage, first_seen, last_seen, points: [{version, severity, status}]}}; a version where the
    barrier is not active has severity None.
    """
    history: dict[str, dict[str, Any]] = {}
    for version, doc, diff in versions:
        present = active_barriers(doc)
        statuses = {b["id"]: b["status"] for b in diff.get("barriers", [])} if diff else {}
        for barrier_id, barrier in present.items():
            entry = history.setdefault(barrier_id, {"title": barrier["title"], "kind": barrier["kind"], "stage": barrier["stage"],
                                                    "first_seen": version, "last_seen": version, "points": []})
            entry.update(last_seen=version, stage=barrier["stage"], title=barrier["title"])  # where it sits now
        for barrier_id, entry in history.items():
            barrier = present.get(barrier_id)
            status = statuses.get(barrier_id) or ("present" if barrier else "absent")
            entry["points"].append({"version": version, "severity": barrier["severity"] if barrier else None, "status": status})
    for entry in history.values():
        entry["trajectory"] = [p["status"] for p in entry["points"]]
    return dict(sorted(history.items()))
