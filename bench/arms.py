"""The server arms the lab compares, and the cells a run is made of.

An arm is a server model: which server runs the project, how it is set
up, and which path prefix its Locust user requests. A cell is one arm
under one workload (an algorithm and a scenario, or the ping endpoint).
"""

from dataclasses import dataclass

SCENARIOS = {
    1: {"n": 1_000, "max": 5_000},
    2: {"n": 10_000, "max": 50_000},
}
ALGORITHMS = ("builtin", "bubble", "priority_queue")
PING = "ping"
# The bounded arms answer 503 past this many offloaded jobs in flight per
# pool slot (per server process): 2 keeps every slot busy with one job
# queued behind it, and refuses the rest at once instead of queueing them.
BOUND_PER_SLOT = 2


@dataclass(frozen=True)
class Arm:
    name: str
    server: str  # "gunicorn", "uvicorn" or "runserver"
    user_class: str  # the Locust user class that requests this arm's paths
    prefix: str  # path prefix before the algorithm name
    ping_path: str
    worker_class: str = ""  # gunicorn only
    offloads: bool = False  # async views that send the sort elsewhere
    summary: str = ""
    pool: str = ""  # "thread" or "process": the pool the sorts are sent to
    # Above 0: this arm's server answers 503 past bound_per_slot × pool size
    # offloaded jobs in flight, whatever the run's --max-in-flight says.
    bound_per_slot: int = 0


ARMS = {
    arm.name: arm
    for arm in (
        Arm(
            "wsgi-sync",
            "gunicorn",
            "SyncClient",
            "/sync/",
            "/sync/ping/",
            worker_class="sync",
            summary="gunicorn, sync workers: one request per worker process",
        ),
        Arm(
            "wsgi-gthread",
            "gunicorn",
            "SyncClient",
            "/sync/",
            "/sync/ping/",
            worker_class="gthread",
            summary="gunicorn, gthread workers: threads in each worker process",
        ),
        Arm(
            "asgi-thread",
            "uvicorn",
            "ThreadOffloadClient",
            "/async/thread/",
            "/async/ping/",
            offloads=True,
            summary="uvicorn, async views, sort in a thread pool (sync_to_async)",
        ),
        Arm(
            "asgi-process",
            "uvicorn",
            "ProcessOffloadClient",
            "/async/process/",
            "/async/ping/",
            offloads=True,
            summary="uvicorn, async views, sort in a process pool",
        ),
        Arm(
            "asgi-thread-bounded",
            "uvicorn",
            "ThreadOffloadClient",
            "/async/thread/",
            "/async/ping/",
            offloads=True,
            summary=f"asgi-thread with a bound: past {BOUND_PER_SLOT} × thread-pool size "
            "jobs in flight, an immediate 503 with Retry-After",
            pool="thread",
            bound_per_slot=BOUND_PER_SLOT,
        ),
        Arm(
            "asgi-process-bounded",
            "uvicorn",
            "ProcessOffloadClient",
            "/async/process/",
            "/async/ping/",
            offloads=True,
            summary=f"asgi-process with a bound: past {BOUND_PER_SLOT} × process-pool size "
            "jobs in flight, an immediate 503 with Retry-After",
            pool="process",
            bound_per_slot=BOUND_PER_SLOT,
        ),
        Arm(
            "asgi-sensitive",
            "uvicorn",
            "SensitiveClient",
            "/async/sensitive/",
            "/async/ping/",
            offloads=True,
            summary="uvicorn, async views, sync_to_async(thread_sensitive=True)",
        ),
        Arm(
            "asgi-loop",
            "uvicorn",
            "LoopClient",
            "/async/loop/",
            "/async/ping/",
            summary="uvicorn, async views, sort on the event loop (anti-pattern)",
        ),
        Arm(
            "asgi-sync",
            "uvicorn",
            "SyncClient",
            "/sync/",
            "/sync/ping/",
            summary="uvicorn, sync views (Django runs them in a thread)",
        ),
        Arm(
            "runserver",
            "runserver",
            "SyncClient",
            "/sync/",
            "/sync/ping/",
            summary="Django's development server, a thread per connection (the classroom's)",
        ),
    )
}
DEFAULT_ARMS = ("wsgi-sync", "asgi-thread")


@dataclass(frozen=True)
class Cell:
    arm: Arm
    algorithm: str  # one of ALGORITHMS, or PING
    scenario: int | None  # None for ping

    @property
    def id(self) -> str:
        if self.algorithm == PING:
            return f"{self.arm.name}/ping"
        return f"{self.arm.name}/{self.algorithm}/s{self.scenario}"

    @property
    def tag(self) -> str:
        """The Locust tag that selects exactly this cell's task."""
        if self.algorithm == PING:
            return PING
        return f"{self.algorithm}_scenario{self.scenario}"

    @property
    def path(self) -> str:
        if self.algorithm == PING:
            return self.arm.ping_path
        return f"{self.arm.prefix}{self.algorithm}/"

    @property
    def user_class(self) -> str:
        """The Locust user class that sends this cell's requests."""
        return self.arm.user_class

    @property
    def params(self) -> dict[str, int]:
        return {} if self.scenario is None else dict(SCENARIOS[self.scenario])

    @property
    def label(self) -> str:
        if self.algorithm == PING:
            return f"{self.arm.name} ping"
        return f"{self.arm.name} {self.algorithm} scenario {self.scenario}"


def plan_cells(
    arm_names: list[str],
    algorithms: list[str],
    scenarios: list[int],
    with_ping: bool = True,
) -> list[Cell]:
    """Every arm × algorithm × scenario, each arm's ping cell first."""
    cells = []
    for name in arm_names:
        arm = ARMS[name]
        if with_ping:
            cells.append(Cell(arm, PING, None))
        for algorithm in algorithms:
            for scenario in scenarios:
                cells.append(Cell(arm, algorithm, scenario))
    return cells
