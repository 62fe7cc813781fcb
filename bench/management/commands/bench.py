"""`python manage.py bench`: run the comparison and write benchmarks.md."""

import logging
import os
import shlex
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from bench.arms import ALGORITHMS, ARMS, DEFAULT_ARMS, SCENARIOS, plan_cells
from bench.kinds import KINDS
from bench.loadgen import LoadOptions
from bench.machine import available_cpus, split_cpus
from bench.report import load_results, render_from_run
from bench.runner import RunPlan, new_run_dir, run_plan
from bench.servers import ServerOptions

logger = logging.getLogger("bench")

ENV_PREFIX = "ASYNCPROJ_BENCH_"
DEFAULT_RUNS_DIR = "bench-runs"
DEFAULT_REPORT = "benchmarks.md"
DEFAULT_CHARTS_DIR = "benchmarks"


def _env_default(name: str, default):
    return os.environ.get(ENV_PREFIX + name.upper(), default)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def _choice_list(allowed) -> callable:
    def parse(text: str) -> list[str]:
        items = [item.strip() for item in text.split(",") if item.strip()]
        if items == ["all"]:
            return list(allowed)
        unknown = [item for item in items if item not in allowed]
        if unknown or not items:
            raise ValueError(text)
        return items

    parse.__name__ = "comma-separated list of " + ", ".join(map(str, allowed))
    return parse


def _scenario_list(text: str) -> list[int]:
    return [int(item) for item in _choice_list([str(k) for k in SCENARIOS])(text)]


class Command(BaseCommand):
    help = (
        "Run every server arm × algorithm × scenario against fresh servers under "
        "Locust, save the data in a run folder and render benchmarks.md. "
        f"Every option can also be set as {ENV_PREFIX}<OPTION> in the environment."
    )

    def add_arguments(self, parser) -> None:
        add = parser.add_argument
        add(
            "--kind",
            choices=list(KINDS),
            default=_env_default("kind", "fixed"),
            help="what each cell does: "
            + "; ".join(f"{kind.name}: {kind.summary}" for kind in KINDS.values())
            + " (default: %(default)s)",
        )
        add(
            "--arms",
            type=_choice_list(ARMS),
            default=_env_default("arms", ",".join(DEFAULT_ARMS)),
            help=f"server arms, or 'all' ({', '.join(ARMS)}) (default: %(default)s)",
        )
        add(
            "--algorithms",
            type=_choice_list(ALGORITHMS),
            default=_env_default("algorithms", "all"),
            help="algorithms, comma-separated, or 'all' (default: %(default)s)",
        )
        add(
            "--scenarios",
            type=_scenario_list,
            default=_env_default("scenarios", "all"),
            help="scenarios 1 and/or 2, or 'all' (default: %(default)s)",
        )
        add(
            "--users",
            type=_positive_int,
            default=_env_default("users", 8),
            help="concurrent Locust users per cell (default: %(default)s)",
        )
        add(
            "--spawn-rate",
            type=float,
            default=_env_default("spawn_rate", 8.0),
            help="users started per second (default: %(default)s)",
        )
        add(
            "--run-time",
            type=_positive_int,
            default=_env_default("run_time", 15),
            help="seconds of load per cell (default: %(default)s)",
        )
        add(
            "--stop-timeout",
            type=_positive_int,
            default=_env_default("stop_timeout", 60),
            help="seconds to let requests in flight finish at the end (default: %(default)s)",
        )
        add(
            "--no-probe",
            action="store_true",
            help="do not send the light ping probe during heavy cells",
        )
        add(
            "--probe-rate",
            type=float,
            default=_env_default("probe_rate", 2.0),
            help="probe requests per second (default: %(default)s)",
        )
        add(
            "--workers",
            type=_positive_int,
            default=_env_default("workers", None),
            help="gunicorn worker processes (default: 2 × server CPUs + 1)",
        )
        add(
            "--threads",
            type=_positive_int,
            default=_env_default("threads", 4),
            help="threads per gunicorn gthread worker (default: %(default)s)",
        )
        add(
            "--thread-pool",
            type=_positive_int,
            default=_env_default("thread_pool", 4),
            help="ASGI offload thread-pool size (default: %(default)s)",
        )
        add(
            "--process-pool",
            type=_positive_int,
            default=_env_default("process_pool", None),
            help="ASGI offload process-pool size (default: server CPUs)",
        )
        add(
            "--max-in-flight",
            type=int,
            default=_env_default("max_in_flight", 0),
            help="offloaded jobs per server process before a 503; 0: no bound "
            "(default: %(default)s)",
        )
        add(
            "--no-pin",
            action="store_true",
            help="do not pin the server and Locust to separate CPUs",
        )
        add(
            "--runs-dir",
            type=Path,
            default=_env_default("runs_dir", DEFAULT_RUNS_DIR),
            help="folder for run output: CSV, HTML, JSON (default: %(default)s)",
        )
        add(
            "--report",
            type=Path,
            default=_env_default("report", DEFAULT_REPORT),
            help="Markdown report to write (default: %(default)s)",
        )
        add(
            "--charts-dir",
            type=Path,
            default=_env_default("charts_dir", DEFAULT_CHARTS_DIR),
            help="folder for the report's charts (default: %(default)s)",
        )
        add(
            "--render",
            type=Path,
            metavar="RUN",
            help="only re-render the report from a run folder or its results.json",
        )

    def handle(self, *args, **options) -> None:
        _configure_logging(options["verbosity"])
        if options["render"]:
            self._render(options["render"], options)
            return

        plan = self._plan(options)
        logger.info("run folder: %s", plan.run_dir)
        try:
            results = run_plan(plan, KINDS[plan.kind].cell_runner)
        except KeyboardInterrupt:
            raise CommandError(
                f"interrupted; every server and Locust process was stopped. Partial data: "
                f"{plan.run_dir}; {options['report']} was left as it was.",
                returncode=130,
            ) from None
        self._render(plan.run_dir, options)
        _log_failures(results)

    def _plan(self, options) -> RunPlan:
        server_cpus, locust_cpus = (), ()
        if not options["no_pin"]:
            server_cpus, locust_cpus = split_cpus(available_cpus())
        server_cpu_count = len(server_cpus) or len(available_cpus())
        server = ServerOptions(
            workers=options["workers"] or 2 * server_cpu_count + 1,
            threads=options["threads"],
            thread_pool=options["thread_pool"],
            process_pool=options["process_pool"] or server_cpu_count,
            max_in_flight=options["max_in_flight"],
            cpus=server_cpus,
        )
        load = LoadOptions(
            users=options["users"],
            spawn_rate=options["spawn_rate"],
            run_time_s=options["run_time"],
            stop_timeout_s=options["stop_timeout"],
            probe=not options["no_probe"],
            probe_rate=options["probe_rate"],
            cpus=locust_cpus,
        )
        cells = plan_cells(options["arms"], options["algorithms"], options["scenarios"])
        return RunPlan(
            cells=cells,
            server=server,
            load=load,
            run_dir=new_run_dir(options["runs_dir"]),
            command_line=shlex.join(["python", "manage.py", "bench", *sys.argv[2:]]),
            kind=options["kind"],
            detail=f"{load.users} users, {load.run_time_s} s",
        )

    def _render(self, run: Path, options) -> None:
        if not run.exists():
            raise CommandError(f"--render: no run folder or results.json at {run}")
        kind = KINDS[load_results(run).get("kind", "fixed")]
        render_from_run(
            run, options["report"], options["charts_dir"], kind.sections, kind.make_charts
        )


def _configure_logging(verbosity: int) -> None:
    level = logging.DEBUG if verbosity > 1 else logging.INFO
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S"
    )


def _log_failures(results: dict) -> None:
    for failure in results["failures"]:
        logger.warning("failed cell %s: %s", failure["cell"], failure["error"])
    flagged = [cell["id"] for cell in results["cells"] if cell.get("flags")]
    if flagged:
        logger.warning("cells marked unreliable: %s", ", ".join(flagged))
