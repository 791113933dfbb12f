"""The processes tests start can be stopped: after an in-process Dagster run (which copies SIGINT's handler
onto SIGTERM), a child process still dies on SIGTERM, even when the suite itself was started in the
background with SIGINT ignored (nohup, CI, xdist workers)."""

from __future__ import annotations

import signal
import subprocess

import dagster as dg


def test_a_process_started_after_an_in_process_run_stops_on_sigterm():
    @dg.asset
    def trivial() -> None:
        return None

    assert dg.materialize([trivial], instance=dg.DagsterInstance.ephemeral()).success
    child = subprocess.Popen(["sleep", "60"])
    try:
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=10) == -signal.SIGTERM
    finally:
        child.kill()
