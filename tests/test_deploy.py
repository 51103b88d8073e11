"""Scheduling: the etl flow as a cron deployment, one run of it executed to completion.

Runs execute in a working directory with its own ``tasks`` and ``flows`` packages and without the
repository on the path: deployed code is news_etl as installed, whatever the cwd holds."""

from __future__ import annotations

import os
import subprocess
import sys

import duckdb
import pytest

from tests.conftest import REPO, SEEDS, installed_env


def test_deployment_has_cron_schedule_and_a_run_completes(prefect_harness, tmp_path, foreign_cwd):
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    from news_etl.flows.deploy import build_deployment
    from news_etl.tasks.options import RunOptions

    warehouse = tmp_path / "wh"
    deployment = build_deployment(RunOptions(inputs=[str(SEEDS)], warehouse=str(warehouse)), cron="*/15 * * * *",
                                  name="test-quarter-hourly")
    dep_id = deployment.apply()

    with get_client(sync_client=True) as client:
        dep = client.read_deployment(dep_id)
    assert dep.name == "test-quarter-hourly"
    assert [s.schedule.cron for s in dep.schedules] == ["*/15 * * * *"]
    assert dep.entrypoint == "news_etl.flows.etl.etl"  # by module: the installed code, not a file under the cwd
    stored = dep.parameters["options"]
    assert stored["inputs"] == [str(SEEDS)]
    assert stored["warehouse"] == str(warehouse.resolve())

    # a run of the deployment with one option changed: the options travel as one object
    run = run_deployment("etl/test-quarter-hourly", parameters={"options": {**stored, "max_doc_bytes": 1_000_000}}, timeout=0)
    proc = subprocess.run([sys.executable, "-m", "prefect", "flow-run", "execute", str(run.id)],
                          cwd=foreign_cwd, env=installed_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]

    with get_client(sync_client=True) as client:
        finished = client.read_flow_run(run.id)
    assert finished.state.type.value == "COMPLETED", finished.state
    assert finished.parameters["options"]["max_doc_bytes"] == 1_000_000
    con = duckdb.connect(str(warehouse / "news.duckdb"), read_only=True)
    try:
        assert con.sql("select count(*) from lake.documents").fetchone()[0] == 5
        assert con.sql("select count(*) from marts.articles").fetchone()[0] == 5
    finally:
        con.close()


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("api_url, message, code", [
    (None, "serve needs a Prefect server: unset NEWS_ETL_SERVER, or export PREFECT_API_URL", 2),
    ("closed", "cannot reach the Prefect server at http://127.0.0.1:", 1),
])
def test_serve_without_server_is_a_one_line_error(tmp_path, api_url, message, code):
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(PREFECT_HOME=str(tmp_path / "prefect-home"), NEWS_ETL_SERVER="ephemeral")
    if api_url:
        env["PREFECT_API_URL"] = f"http://127.0.0.1:{_closed_port()}/api"
    res = subprocess.run([sys.executable, "-m", "news_etl.flows.cli", "serve", "--warehouse", str(tmp_path / "wh")],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == code
    assert len(res.stderr.strip().splitlines()) == 1
    assert res.stderr.startswith("news-etl serve: error: ") and message in res.stderr


def test_invalid_cron_is_refused(tmp_path):
    from news_etl.flows.deploy import build_deployment
    from news_etl.tasks.options import RunOptions

    with pytest.raises(ValueError, match="invalid cron schedule 'every hour'"):
        build_deployment(RunOptions(inputs=[str(SEEDS)], warehouse=str(tmp_path / "wh")), cron="every hour")


def _flow_run_messages(flow_run_id, until, timeout: float = 60) -> list[str]:
    """The flow run's log messages in the API, read again until ``until(messages)`` or the timeout."""
    import time

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while True:
            logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
            messages = [entry.message for entry in logs]
            if until(messages) or time.monotonic() > deadline:
                return messages
            time.sleep(0.5)


def test_cli_serve_runs_a_triggered_flow_run(prefect_harness, tmp_path, foreign_cwd):
    """`news-etl serve` in its own process picks up a run of its deployment and completes it,
    prints the run's steps, leaves its log lines in the API, and stops cleanly on SIGTERM."""
    import signal
    import time

    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    warehouse = tmp_path / "wh"
    log = open(tmp_path / "serve.log", "w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "news_etl.flows.cli", "serve", "--cron", "0 3 * * *", "--input", str(SEEDS),
         "--warehouse", str(warehouse), "--name", "test-served", "--workers", "2", "--debug"],
        cwd=foreign_cwd, env={k: v for k, v in installed_env(PREFECT_RUNNER_POLL_FREQUENCY="1").items() if k != "PREFECT_LOGGING_LEVEL"},
        stdout=log, stderr=subprocess.STDOUT)
    try:
        with get_client(sync_client=True) as client:
            for _ in range(240):  # until the serve process has registered its deployment
                assert proc.poll() is None, (tmp_path / "serve.log").read_text()
                try:
                    dep = client.read_deployment_by_name("etl/test-served")
                    break
                except Exception:
                    time.sleep(0.5)
            else:
                pytest.fail("serve never registered its deployment")
        assert [s.schedule.cron for s in dep.schedules] == ["0 3 * * *"]
        run = run_deployment("etl/test-served", timeout=300)
        assert run.state.is_completed(), (run.state, (tmp_path / "serve.log").read_text()[-3000:])
        # The flow run's process ships its last log lines as it exits, after the state is Completed:
        # wait for them before stopping serve, which would end that process.
        messages = _flow_run_messages(run.id, until=lambda ms: any("5 articles out" in m for m in ms))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    out = (tmp_path / "serve.log").read_text()
    assert proc.returncode == 0, out[-3000:]
    assert "never awaited" not in out and "RuntimeWarning" not in out, out[-3000:]
    assert "load: done in" in out and "5 articles out" in out  # serve prints each run's steps
    assert any(m.startswith("discover: done in") for m in messages), messages  # a successful run's lines are in the API
    assert any("5 articles out" in m for m in messages), messages
    con = duckdb.connect(str(warehouse / "news.duckdb"), read_only=True)
    try:
        assert con.sql("select count(*) from marts.articles").fetchone()[0] == 5
    finally:
        con.close()
