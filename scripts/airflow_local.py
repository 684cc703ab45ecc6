"""What `make airflow` needs before it starts Airflow, without ever showing a password.

``users``: every user of ``--users`` (Airflow's ``simple_auth_manager_users`` form,
``name:role,...``) gets a generated password in the passwords file unless it has one; the file is
written with mode 0600. Airflow's simple auth manager prints the passwords it generates itself; it
generates none when the file has them all, so nothing prints one.

``connection``: the JSON of an Airflow connection to the local REST API as ``--user`` (with that
user's password from the file), on standard output for the Makefile to capture into
``AIRFLOW_CONN_CJM_AIRFLOW_API``: ``resolve_period`` writes each run's quarter into its note with
it (:func:`cjm_tasks.run.airflow.note_run`).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from pathlib import Path


def ensure_passwords(file: Path, users: list[str]) -> list[str]:
    """Add a generated password for every user missing from ``file``; returns the users added."""
    passwords = json.loads(file.read_text(encoding="utf-8") or "{}") if file.exists() else {}
    added = [user for user in users if user not in passwords]
    if added:
        passwords.update({user: secrets.token_urlsafe(18) for user in added})
        file.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            out.write(json.dumps(passwords) + "\n")
    os.chmod(file, 0o600)
    return added


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["users", "connection"])
    parser.add_argument("--file", type=Path, required=True, help="the simple auth manager's passwords file")
    parser.add_argument("--users", default="", help="name:role,... (users)")
    parser.add_argument("--user", default="", help="the connection's user (connection)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    if args.what == "users":
        names = [entry.split(":")[0] for entry in args.users.split(",") if entry.strip()]
        added = ensure_passwords(args.file, names)
        if added:
            print(f"generated the password of {', '.join(added)} in {args.file} (mode 0600)")
        return 0
    passwords = json.loads(args.file.read_text(encoding="utf-8"))
    if args.user not in passwords:
        print(f"no password for {args.user!r} in {args.file}", file=sys.stderr)
        return 1
    print(json.dumps({"conn_type": "http", "host": args.host, "port": args.port, "login": args.user,
                      "password": passwords[args.user]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
