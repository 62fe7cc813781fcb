"""`manage.py bench` end to end: real servers, real Locust, real cleanup."""

import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from bench.servers import PROJECT_ROOT, port_is_free

COMMAND_TIMEOUT_S = 240
SERVER_UP_BOUND_S = 60  # how long the interrupt test waits for a server to start
# Locust, the server, and a process-pool child started by "spawn".
RUNNING_PARTS = ("locust", "uvicorn", "multiprocessing")
PORT = re.compile(r"(?:--port |--bind 127\.0\.0\.1:)(\d+)")


def bench(tmp_path: Path, *options: str) -> list[str]:
    return [
        sys.executable, "manage.py", "bench",
        "--runs-dir", str(tmp_path / "runs"),
        "--report", str(tmp_path / "benchmarks.md"),
        "--charts-dir", str(tmp_path / "charts"),
        *options,
    ]  # fmt: skip


def only_run(tmp_path: Path) -> Path:
    (run,) = (tmp_path / "runs").iterdir()
    return run


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    return [p for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


@pytest.mark.slow
def test_a_short_run_measures_both_servers_and_writes_the_report(tmp_path):
    done = subprocess.run(
        bench(
            tmp_path,
            "--arms", "wsgi-sync,asgi-thread",
            "--algorithms", "builtin",
            "--scenarios", "1",
            "--users", "2",
            "--run-time", "3",
        ),
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert "[4/4] asgi-thread builtin scenario 1" in done.stderr
    results = json.loads((only_run(tmp_path) / "results.json").read_text())
    assert results["status"] == "complete"
    cells = {cell["id"]: cell for cell in results["cells"]}
    assert set(cells) == {
        "wsgi-sync/ping", "wsgi-sync/builtin/s1", "asgi-thread/ping", "asgi-thread/builtin/s1",
    }  # fmt: skip
    for cell in cells.values():
        assert cell["status"] == "ok", cell
        assert cell["stats"]["requests"] > 0
        assert cell["stats"]["failures"] == 0
    heavy = cells["asgi-thread/builtin/s1"]
    assert heavy["probe"]["requests"] > 0
    assert heavy["server_timing"]["sort_ms"] > 0
    assert (only_run(tmp_path) / "asgi-thread_builtin_s1" / "locust.html").exists()

    report = (tmp_path / "benchmarks.md").read_text()
    row = f"| builtin | asgi-thread | {heavy['stats']['requests']:,} |"
    assert row in report
    for cell in cells.values():
        port = int(PORT.search(cell["server_command"]).group(1))
        assert port_is_free(port)


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "exit_code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_or_sigterm_mid_run_stops_every_process_and_keeps_the_report(
    tmp_path, signum, exit_code
):
    report = tmp_path / "benchmarks.md"
    report.write_text("# Benchmarks\n\nprose\n\n<!-- bench:start -->\nold\n<!-- bench:end -->\n")
    command = bench(
        tmp_path,
        "--arms", "asgi-process",
        "--algorithms", "bubble",
        "--run-time", "60",
        "--no-ping",
    )  # fmt: skip
    with subprocess.Popen(
        command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as runner:
        try:
            started = wait_for_locust(runner)
            runner.send_signal(signum)
            _, stderr = runner.communicate(timeout=COMMAND_TIMEOUT_S)
        finally:
            if runner.poll() is None:
                runner.kill()

    assert runner.returncode == exit_code, stderr
    assert "interrupted; every server and Locust process was stopped" in stderr
    assert "Traceback" not in stderr
    psutil.wait_procs(started, timeout=10)
    assert alive(started) == []
    assert report.read_text().count("old") == 1
    results = json.loads((only_run(tmp_path) / "results.json").read_text())
    assert results["status"] == "interrupted"


def wait_for_locust(runner: subprocess.Popen) -> list[psutil.Process]:
    """Wait until the runner has a server, its pool and Locust running.

    Returns the runner's whole process tree at that moment.
    """
    deadline = time.monotonic() + SERVER_UP_BOUND_S
    while time.monotonic() < deadline:
        assert runner.poll() is None, runner.stderr.read()
        tree = descendants(runner.pid)
        commands = [" ".join(p.cmdline()) for p in alive(tree)]
        if all(any(part in c for c in commands) for part in RUNNING_PARTS):
            return tree
        time.sleep(0.2)
    pytest.fail("the runner started no server and Locust in time")


def run_bench(tmp_path: Path, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        bench(tmp_path, *options),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
    )


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--users", "0", "argument --users: expected a whole number >= 1, got '0'"),
        ("--run-time", "-1", "argument --run-time: expected a whole number >= 1, got '-1'"),
        ("--spawn-rate", "0", "argument --spawn-rate: expected a number > 0, got '0'"),
        ("--probe-rate", "-1", "argument --probe-rate: expected a number > 0, got '-1'"),
        ("--arms", "nope", "argument --arms: unknown nope; expected 'all' or a comma-sep"),
        ("--scenarios", "3", "argument --scenarios: unknown 3; expected 'all' or a comma-sep"),
    ],
)
def test_a_bad_option_is_refused_in_one_line_before_anything_starts(
    tmp_path, option, value, message
):
    done = run_bench(tmp_path, option, value)

    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("what", ["a text file", "a folder without results"])
def test_render_refuses_what_is_not_a_stored_run(tmp_path, what):
    run = tmp_path / "notes.txt" if what == "a text file" else tmp_path / "empty"
    if what == "a text file":
        run.write_text("not json\n")
    else:
        run.mkdir()

    done = run_bench(tmp_path, "--render", str(run))

    assert done.returncode == 1
    assert f"--render: {run} is not a run folder or its results.json" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_report_that_cannot_be_written_is_refused_before_the_run(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")

    done = run_bench(tmp_path, "--report", str(blocker / "benchmarks.md"))

    assert done.returncode == 1
    assert f"--report: cannot create the folder {blocker}" in done.stderr
    assert not (tmp_path / "runs").exists()


def test_a_target_that_does_not_speak_http_is_refused_in_one_line(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        stop = threading.Event()
        answering = threading.Thread(target=answer_garbage, args=(listener, stop))
        answering.start()
        try:
            done = run_bench(
                tmp_path, "--target", f"http://127.0.0.1:{port}", "--arms", "wsgi-sync"
            )
        finally:
            stop.set()
            answering.join()

    assert done.returncode == 1
    assert f"--target: the target did not answer http://127.0.0.1:{port}/sync/ping/" in done.stderr
    assert "Traceback" not in done.stderr


def answer_garbage(listener: socket.socket, stop: threading.Event) -> None:
    listener.settimeout(0.2)
    while not stop.is_set():
        try:
            connection, _ = listener.accept()
        except TimeoutError:
            continue
        with connection:
            connection.sendall(b"SSH-2.0-not-http\r\n")
