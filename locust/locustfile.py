"""Locust users for asyncproj: one per server arm, a classroom replay, a probe.

Interactive: ``locust -f locust/locustfile.py`` and open
http://localhost:8089. Scripted: choose one cell with ``--tags`` and the
user class of the arm; name the classes after ``--`` (or anywhere after
``--tags``, see loadgen_selection), for example::

    locust -f locust/locustfile.py --headless -u 9 -r 9 -t 60s \\
        --host http://127.0.0.1:8000 --request-log out/requests.csv \\
        --tags bubble_scenario1 probe -- SyncClient ProbeClient

User classes:

- Closed-loop arm clients, no wait between requests (``constant(0)``):
  ``SyncClient`` (/sync/), ``ThreadOffloadClient`` (/async/thread/),
  ``ProcessOffloadClient`` (/async/process/), ``LoopClient``
  (/async/loop/), ``SensitiveClient`` (/async/sensitive/).
  Each has one task per algorithm and scenario, tagged with the
  algorithm (``builtin``, ``bubble``, ``priority_queue``), the scenario
  (``scenario1``, ``scenario2``) and the cell
  (``<algorithm>_scenario<k>``, e.g. ``bubble_scenario1``), plus a
  ``ping`` task (/sync/ping/ for SyncClient, /async/ping/ otherwise).
  Since --tags keeps tasks with ANY given tag, select a cell by its cell
  tag. Request names read ``/sync/bubble/ [s1]``.
- ``ClassroomStudent`` replays the classroom run: 1-3 s between
  requests, the three /test/ paths. Scenario 1 (sent without query
  parameters, as the classroom did) is tagged ``classroom``,
  ``classroom_scenario1``, ``classroom_<algorithm>`` and
  ``classroom_<algorithm>_scenario1``; scenario 2 is tagged only
  ``classroom_scenario2`` and ``classroom_<algorithm>_scenario2``. With
  no --tags at all the student stays on scenario 1; scenario 2 runs only
  when a tag asks for it.
- ``ProbeClient``: one user (fixed_count) sending light requests at
  ``--probe-rate`` per second to the ping path of ``--probe-mode``; its
  rows are named ``probe <path>``, apart from the load. Tagged ``probe``:
  add the tag and the class to a cell's selection. Being a user, it
  counts in ``-u``; the shapes add it on top of their own user counts.

A request still waiting for its answer when ``--stop-timeout`` runs out
is killed with its user and Locust records nothing of it; each process
counts those and logs one "Cut off at the stop timeout: N requests" line
when the test stops.

Options (each with an ASYNCPROJ_* environment variable): ``--request-log``
(see loadgen_recorder for the CSV and meta formats), ``--probe-mode``,
``--probe-rate``. Load shapes live in step_shape.py and hold_shape.py;
pass them as a second -f entry. Do not pass the whole directory: Locust
would load both shapes and silently run the first.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import gevent
import loadgen_options
import loadgen_recorder
import loadgen_selection
import locust.stats
from locust.runners import STATE_RUNNING, STATE_SPAWNING, MasterRunner, WorkerRunner
from locust.stats import CSV_STATS_INTERVAL_SEC

from locust import FastHttpUser, between, constant, constant_throughput, events, tag, task

DEFAULT_HOST = "http://127.0.0.1:8000"  # manage.py runserver
ALGORITHMS = ("builtin", "bubble", "priority_queue")
SCENARIOS = {1: {"n": 1_000, "max": 5_000}, 2: {"n": 10_000, "max": 50_000}}
CLASSROOM_PATHS = {
    "builtin": "/test/normal_sort/",
    "priority_queue": "/test/priority_queue/",
    "bubble": "/test/bubble_sort/",
}
CLASSROOM_WAIT_S = (1.0, 3.0)
CLASSROOM_SCENARIO2_TAG = "classroom_scenario2"
CSV_SETTLE_MARGIN_S = 0.2  # on top of Locust's CSV write interval
CUT_OFF_LOG = "Cut off at the stop timeout"  # bench.loadgen reads this line

logger = logging.getLogger(__name__)
# Requests of this process whose user the stop timeout killed while it
# waited for the answer, by name. Locust records nothing for them.
cut_off_requests: Counter[str] = Counter()

# The classroom's tables give the 60th and 70th percentiles too.
locust.stats.PERCENTILES_TO_REPORT = [
    0.50,
    0.60,
    0.66,
    0.70,
    0.75,
    0.80,
    0.90,
    0.95,
    0.98,
    0.99,
    0.999,
    1.0,
]

loadgen_options.register(loadgen_options.add_request_log_options)
loadgen_options.register(loadgen_options.add_probe_options)


def cell_tag(algorithm: str, scenario: int) -> str:
    return f"{algorithm}_scenario{scenario}"


def query(scenario: int) -> str:
    return "?" + "&".join(f"{key}={value}" for key, value in SCENARIOS[scenario].items())


def get_counting_cut_off(user: FastHttpUser, url: str, name: str) -> None:
    """GET, counting the request if the stop timeout kills its user mid-wait."""
    started = time.monotonic()
    try:
        user.client.get(url, name=name)
    except gevent.GreenletExit:
        # Killed before the stop timeout had passed, it was a waiting user
        # stopped just as its next request began (gevent delivers kills
        # late), not a request cut off.
        if time.monotonic() - started >= (user.environment.stop_timeout or 0):
            cut_off_requests[name] += 1
        raise


def report_cut_off(**_kwargs: Any) -> None:
    """Log how many requests the stop timeout cut off, then start afresh."""
    total = sum(cut_off_requests.values())
    if total:
        logger.info("%s: %d requests still waiting for an answer", CUT_OFF_LOG, total)
    cut_off_requests.clear()


def cell_task(algorithm: str, scenario: int) -> Callable[[ArmClient], None]:
    """Build the task for one cell; the user supplies the path prefix."""
    url_tail = f"{algorithm}/{query(scenario)}"
    name_tail = f"{algorithm}/ [s{scenario}]"

    def request_cell(user: ArmClient) -> None:
        get_counting_cut_off(user, user.prefix + url_tail, user.prefix + name_tail)

    request_cell.__name__ = request_cell.__qualname__ = cell_tag(algorithm, scenario)
    return tag(algorithm, f"scenario{scenario}", cell_tag(algorithm, scenario))(request_cell)


@tag("ping")
def ping(user: ArmClient) -> None:
    user.client.get(user.ping_path)


class ArmClient(FastHttpUser):
    """A closed-loop client of one server arm: next request as soon as one ends."""

    abstract = True
    host = DEFAULT_HOST
    wait_time = constant(0)
    prefix = "/sync/"
    ping_path = "/sync/ping/"
    tasks = [cell_task(a, s) for a in ALGORITHMS for s in SCENARIOS] + [ping]


class SyncClient(ArmClient):
    """A client of the sync views: gunicorn, or Django's runserver."""

    prefix = "/sync/"
    ping_path = "/sync/ping/"


class ThreadOffloadClient(ArmClient):
    """A client of async views that offload the sort to a thread pool."""

    prefix = "/async/thread/"
    ping_path = "/async/ping/"


class ProcessOffloadClient(ArmClient):
    """A client of async views that offload the sort to a process pool."""

    prefix = "/async/process/"
    ping_path = "/async/ping/"


class LoopClient(ArmClient):
    """A client of async views that sort on the event loop itself."""

    prefix = "/async/loop/"
    ping_path = "/async/ping/"


class SensitiveClient(ArmClient):
    """A client of async views using sync_to_async(thread_sensitive=True)."""

    prefix = "/async/sensitive/"
    ping_path = "/async/ping/"


def classroom_tags(algorithm: str, scenario: int) -> tuple[str, ...]:
    if scenario == 1:
        return (
            "classroom",
            "classroom_scenario1",
            f"classroom_{algorithm}",
            f"classroom_{algorithm}_scenario1",
        )
    return (f"classroom_scenario{scenario}", f"classroom_{algorithm}_scenario{scenario}")


def classroom_task(algorithm: str, scenario: int) -> Callable[[FastHttpUser], None]:
    path = CLASSROOM_PATHS[algorithm]
    # The classroom sent scenario 1 bare; the server's defaults are scenario 1.
    url = path if scenario == 1 else path + query(scenario)
    name = f"{path} [s{scenario}]"

    def request_classroom_path(user: FastHttpUser) -> None:
        get_counting_cut_off(user, url, name)

    task_name = f"classroom_{algorithm}_scenario{scenario}"
    request_classroom_path.__name__ = request_classroom_path.__qualname__ = task_name
    return tag(*classroom_tags(algorithm, scenario))(request_classroom_path)


class ClassroomStudent(FastHttpUser):
    """A student of the classroom run: a /test/ path every 1-3 s."""

    host = DEFAULT_HOST
    wait_time = between(*CLASSROOM_WAIT_S)
    tasks = [classroom_task(a, s) for s in SCENARIOS for a in ALGORITHMS]


def keep_classroom_on_scenario1(environment: Any, **_kwargs: Any) -> None:
    """Without --tags, leave scenario 2 out of the classroom replay.

    Runs at test start, after the master's options reached a worker.
    """
    if loadgen_options.option_value(environment, "tags", None):
        return
    ClassroomStudent.tasks = [
        task
        for task in ClassroomStudent.tasks
        if CLASSROOM_SCENARIO2_TAG not in getattr(task, "locust_tag_set", ())
    ]


class ProbeClient(FastHttpUser):
    """One light request at a fixed rate, to see latency apart from the load."""

    fixed_count = 1
    host = DEFAULT_HOST

    def on_start(self) -> None:
        mode = loadgen_options.option_value(
            self.environment, "probe_mode", loadgen_options.DEFAULT_PROBE_MODE
        )
        rate = loadgen_options.option_value(
            self.environment, "probe_rate", loadgen_options.DEFAULT_PROBE_RATE_RPS
        )
        self.path = loadgen_options.probe_path(mode)
        self.request_name = f"probe {self.path}"
        self.pace = constant_throughput(float(rate))

    def wait_time(self) -> float:
        return self.pace(self)

    @tag("probe")
    @task
    def probe(self) -> None:
        self.client.get(self.path, name=self.request_name)


def finish_csv_before_exit(environment: Any, **_kwargs: Any) -> None:
    """Let Locust's --csv files end with the run's final numbers.

    Locust rewrites <prefix>_stats.csv once per CSV_STATS_INTERVAL_SEC and
    only closes it at exit, so the file would miss the run's last second.
    After SIGTERM or Ctrl-C the test is still running when Locust quits;
    stop it first, so that the CSV and the request log end at one moment.
    """
    runner = environment.runner
    if runner is not None and runner.state in (STATE_SPAWNING, STATE_RUNNING):
        runner.stop()
    gevent.sleep(CSV_STATS_INTERVAL_SEC + CSV_SETTLE_MARGIN_S)


def stop_workers_before_quitting(runner: MasterRunner) -> None:
    """Have a master stop its workers, and hear their last counts, before it quits.

    At --run-time a headless master sends "quit" and waits half a second,
    so whatever the workers record while --stop-timeout lets their users
    finish never reaches its stats (locustio/locust#1426). A stop first
    waits until every worker reports that it has stopped.
    """
    quit_at_once = runner.quit

    def quit() -> None:
        if runner.state in (STATE_SPAWNING, STATE_RUNNING):
            runner.stop()
        quit_at_once()

    runner.quit = quit


def send_last_stats(environment: Any, **_kwargs: Any) -> None:
    """On a worker, report the last requests before telling the master it stopped.

    The master drops reports that arrive after a worker's "client_stopped";
    without this, up to one report interval of requests would be lost.
    """
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        runner._send_stats()


@events.init.add_listener
def on_locust_init(environment: Any, **_kwargs: Any) -> None:
    loadgen_selection.narrow_user_classes(environment)
    loadgen_recorder.install(environment)
    environment.events.test_start.add_listener(keep_classroom_on_scenario1)
    environment.events.test_stop.add_listener(report_cut_off)
    environment.events.test_stop.add_listener(send_last_stats)
    if isinstance(environment.runner, MasterRunner):
        stop_workers_before_quitting(environment.runner)
    csv_prefix = loadgen_options.option_value(environment, "csv_prefix", None)
    if csv_prefix and not isinstance(environment.runner, WorkerRunner):
        environment.events.quitting.add_listener(finish_csv_before_exit)
