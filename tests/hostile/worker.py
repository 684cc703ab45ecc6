"""A long-lived ``cjm`` process for the fuzz test: it imports the library once and runs one
command per request in-process, so an example costs a command, not an interpreter start, while
a crash (the process dies) or a hang (no answer in time) still shows as what it is.

Protocol: the parent writes one JSON line per request, ``{"argv": [...], "cwd": ..., "result":
path}``; the worker writes the outcome as JSON to ``result`` and then a line to its original
standard output (which nothing else may write to: fd 1 is pointed at stderr)."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def serve() -> None:
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    # A library that writes to fd 1 directly must not break the protocol.
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    from tests.hostile.edits import Project
    from tests.hostile.run import _run_in_process

    for line in sys.stdin:
        request = json.loads(line)
        outcome = _run_in_process(Project(Path(request["cwd"])), request["argv"])
        Path(request["result"]).write_text(json.dumps(asdict(outcome)), encoding="utf-8")
        answers.write("done\n")


class Worker:
    """The parent's side: start, ask with a time limit, restart after a crash or a hang."""

    def __init__(self, scratch: Path):
        self.scratch = scratch
        self.process: subprocess.Popen | None = None

    def _start(self) -> subprocess.Popen:
        env = {k: v for k, v in os.environ.items() if k not in ("CJM_DEBUG", "CJM_CONFIG")}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        return subprocess.Popen([sys.executable, "-m", "tests.hostile.worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=open(self.scratch / "worker.log", "ab"), cwd=REPO, env=env, text=True, bufsize=1)

    def run(self, cwd: Path, argv: list[str], limit: float):
        """The command's Outcome, or ("crash", exit status) / ("hang", seconds) when it never answered."""
        from tests.hostile.run import Outcome

        if self.process is None or self.process.poll() is not None:
            self.process = self._start()
        result = self.scratch / "result.json"
        result.unlink(missing_ok=True)
        self.process.stdin.write(json.dumps({"argv": argv, "cwd": str(cwd), "result": str(result)}) + "\n")
        self.process.stdin.flush()
        started = time.monotonic()
        ready, _, _ = select.select([self.process.stdout], [], [], limit)
        if not ready:
            self.stop()
            return ("hang", round(time.monotonic() - started, 1))
        if not self.process.stdout.readline():
            status = self.process.wait()
            self.process = None
            return ("crash", status)
        return Outcome(**json.loads(result.read_text(encoding="utf-8")))

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


if __name__ == "__main__":
    serve()
