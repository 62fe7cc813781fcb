"""A bounded stop timeout: requests still waiting then are cut off and counted."""

import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from bench.loadgen import LocustRun, cut_off_count, locust_flags
from bench.servers import PROJECT_ROOT

NEVER_IN_TIME_S = 4.0  # longer than the run and its stop timeout together
USERS = 3
LOCUST_BOUND_S = 60
CUT_OFF_LINE = "vm/INFO/locustfile: Cut off at the stop timeout: {} requests still waiting"


class SlowHandler(BaseHTTPRequestHandler):
    """Answers every request too late to be counted."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        time.sleep(NEVER_IN_TIME_S)
        body = b"{}"
        try:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the cut-off client has gone, as the test wants

    def log_message(self, format: str, *args) -> None:
        """Stay quiet."""


@pytest.fixture
def too_slow_server(http_stub) -> str:
    return http_stub(SlowHandler)


def run_with_log(tmp_path: Path, log_text: str) -> LocustRun:
    log = tmp_path / "locust.log"
    log.write_text(log_text)
    return LocustRun(
        command=[],
        exit_code=0,
        duration_s=1.0,
        prefix=tmp_path / "locust",
        log_path=log,
        request_log=tmp_path / "locust_requests.csv",
    )


def test_the_cut_off_counts_of_every_locust_process_add_up():
    log = "\n".join([CUT_OFF_LINE.format(29), "other line", CUT_OFF_LINE.format(55)])

    assert cut_off_count(log) == 84
    assert cut_off_count("Not all users finished their tasks") is None


def test_the_cut_off_flag_gives_the_count_when_the_locustfile_logged_it(tmp_path):
    log = "Not all users finished their tasks & terminated\n" + CUT_OFF_LINE.format(7)

    flags = locust_flags(run_with_log(tmp_path, log))

    assert flags["cut_off"] == "7 requests still waiting at the end were cut off, not counted"


def test_without_a_count_the_cut_off_flag_still_says_requests_were_lost(tmp_path):
    flags = locust_flags(run_with_log(tmp_path, "Not all users finished their tasks\n"))

    assert flags["cut_off"] == "requests still running at the end were cut off, not counted"


@pytest.mark.slow
def test_a_student_still_waiting_at_the_stop_timeout_is_cut_off_and_counted(
    too_slow_server, tmp_path
):
    done = subprocess.run(
        [
            sys.executable, "-m", "locust", "-f", "locust/locustfile.py",
            "--headless", "--host", too_slow_server,
            "-u", str(USERS), "-r", str(USERS), "-t", "1s", "--stop-timeout", "1",
            "--csv", str(tmp_path / "locust"), "--only-summary",
            "--tags", "classroom_builtin_scenario1", "--", "ClassroomStudent",
        ],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=LOCUST_BOUND_S,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert "Not all users finished their tasks" in done.stderr
    assert cut_off_count(done.stderr) == USERS
    assert "/test/normal_sort/ [s1]" not in (tmp_path / "locust_stats.csv").read_text()
