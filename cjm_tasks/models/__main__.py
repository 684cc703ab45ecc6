"""``python -m cjm_tasks.models [--write]``: check (or rewrite) the committed JSON Schemas against
the models they are generated from; exits 1 when a committed file is stale."""

from __future__ import annotations

import argparse
import sys

from cjm_tasks.models.schema import schema_folder, stale_schemas, write_schemas


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cjm_tasks.models", description=__doc__)
    parser.add_argument("--write", action="store_true", help="write the schema files generated from the models")
    args = parser.parse_args(argv)
    if args.write:
        for path in write_schemas():
            print(f"wrote {path}")
        return 0
    stale = stale_schemas()
    for name in stale:
        print(f"{schema_folder() / name} differs from the models: run python -m cjm_tasks.models --write", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
