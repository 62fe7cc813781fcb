"""`python manage.py bench`: run the comparison and write benchmarks.md."""

import argparse
import logging
import os
import re
import shlex
import signal
import sys
import urllib.parse
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from bench.arms import ALGORITHMS, ARMS, DEFAULT_ARMS, SCENARIOS, plan_cells
from bench.ceiling import DEFAULT_REPEATS
from bench.kinds import KINDS
from bench.loadgen import LoadOptions
from bench.machine import available_cpus, split_cpus
from bench.report import load_results, render_from_run
from bench.runner import RunPlan, check_target, new_run_dir, run_plan
from bench.servers import ServerError, ServerOptions
from bench.stress import add_arguments as add_test_arguments
from bench.stress import gate_breaches, gate_summary
from bench.sweep import DEFAULT_ARM as SWEEP_ARM
from bench.sweep import DEFAULT_POINTS as SWEEP_POINTS
from bench.sweep import DEFAULT_ROUNDS as SWEEP_ROUNDS

logger = logging.getLogger("bench")

ENV_PREFIX = "ASYNCPROJ_BENCH_"
DEFAULT_RUNS_DIR = "bench-runs"
DEFAULT_REPORT = "benchmarks.md"
DEFAULT_CHARTS_DIR = "benchmarks"
# Options a kind may default differently (Kind.defaults); these hold otherwise.
DEFAULTS = {
    "arms": list(DEFAULT_ARMS),
    "users": 8,
    "spawn_rate": 8.0,
    "run_time": 10,
    "stop_timeout": 60,
}
TARGET_EXAMPLE = "http://192.0.2.10:8000"


def _env_default(name: str, default):
    return os.environ.get(ENV_PREFIX + name.upper(), default)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def _not_negative(value, flag: str) -> int:
    # An environment fallback arrives as text and skips argparse's type.
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise CommandError(f"{flag} must be 0 or a positive integer, got {value!r}")
    return number


def _first_set(value, default):
    return default if value is None else value


def _choice_list(allowed) -> callable:
    def parse(text: str) -> list[str]:
        items = [item.strip() for item in text.split(",") if item.strip()]
        if items == ["all"]:
            return list(allowed)
        unknown = [item for item in items if item not in allowed]
        if unknown or not items:
            raise argparse.ArgumentTypeError(
                f"unknown {', '.join(unknown) or 'empty list'}; expected 'all' or a "
                f"comma-separated list of: {', '.join(map(str, allowed))}"
            )
        return items

    return parse


def _scenario_list(text: str) -> list[int]:
    return [int(item) for item in _choice_list([str(k) for k in SCENARIOS])(text)]


def _block_name(text: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,40}", text):
        raise argparse.ArgumentTypeError(
            f"expected lowercase letters, digits and dashes, got {text!r}"
        )
    return text


def _target_url(text: str) -> str:
    """An http(s) URL naming only a server: scheme, host, optional port."""
    parts = urllib.parse.urlsplit(text.strip())
    try:
        parts.port  # noqa: B018 - reading it checks the port
    except ValueError:
        parts = parts._replace(netloc="")
    whole = parts.scheme in ("http", "https") and parts.hostname and not parts.username
    if not whole or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise argparse.ArgumentTypeError(
            f"expected an http:// or https:// URL with a host, an optional port and no "
            f"path, such as {TARGET_EXAMPLE}; got {text!r}"
        )
    return f"{parts.scheme}://{parts.netloc}"


def _default_help(name: str) -> str:
    """The command's default for an option, then each kind's own."""
    text = f"default: {_shown(DEFAULTS[name])}"
    for kind in KINDS.values():
        if name in kind.defaults:
            text += f"; {kind.name} kind: {_shown(kind.defaults[name])}"
    return text


def _shown(value) -> str:
    if value is None:
        return "each cell's own"
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return str(value)


def resolve_defaults(options: dict) -> dict:
    """Fill the options left unset: the kind's default first, then the command's."""
    kind = KINDS[options["kind"]]
    resolved = dict(options)
    for name, default in DEFAULTS.items():
        if resolved.get(name) is None:
            resolved[name] = kind.defaults.get(name, default)
    # Flags the kind turns on, such as --no-probe: left off, they read False.
    for name, value in kind.defaults.items():
        if name not in DEFAULTS and not resolved.get(name):
            resolved[name] = value
    return resolved


def split_for_locust(cpus: list[int], locust_processes: int):
    """As split_cpus, but a CPU per Locust process while the server keeps one."""
    server, locust = split_cpus(cpus)
    wanted = min(locust_processes, len(cpus) - 1)
    if not locust or wanted <= len(locust):
        return server, locust
    return tuple(cpus[:-wanted]), tuple(cpus[-wanted:])


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
            default=_env_default("arms", None),
            help=f"server arms, or 'all' ({', '.join(ARMS)}) ({_default_help('arms')})",
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
            default=_env_default("users", None),
            help=f"concurrent Locust users per cell ({_default_help('users')})",
        )
        add(
            "--spawn-rate",
            type=_positive_float,
            default=_env_default("spawn_rate", None),
            help=f"users started per second ({_default_help('spawn_rate')})",
        )
        add(
            "--run-time",
            type=_positive_int,
            default=_env_default("run_time", None),
            help=f"seconds of load per cell ({_default_help('run_time')})",
        )
        add(
            "--stop-timeout",
            type=_positive_int,
            default=_env_default("stop_timeout", None),
            help="seconds to let requests in flight finish at the end, then cut them off "
            f"({_default_help('stop_timeout')})",
        )
        add(
            "--no-ping",
            action="store_true",
            help="skip each arm's ping cell (the harness ceiling)",
        )
        add(
            "--no-probe",
            action="store_true",
            help="do not send the light ping probe during heavy cells",
        )
        add(
            "--probe-rate",
            type=_positive_float,
            default=_env_default("probe_rate", 2.0),
            help="probe requests per second (default: %(default)s)",
        )
        add(
            "--workers",
            type=_positive_int,
            default=_env_default("workers", None),
            help="gunicorn worker processes (default: 2 × server CPUs + 1; sweep kind: 1)",
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
            "--ceiling-repeats",
            type=int,
            default=_env_default("ceiling_repeats", DEFAULT_REPEATS),
            help="timed runs of each algorithm × scenario in a process pinned to the "
            "server's CPUs, once per run, for the ceiling; 0: skip (default: %(default)s)",
        )
        add(
            "--idle-probe-time",
            type=int,
            default=_env_default("idle_probe_time", None),
            help="seconds of the probe alone on an idle server, once per arm per run; "
            "0: skip (default: the --run-time, so both probes collect as many requests)",
        )
        add(
            "--no-pin",
            action="store_true",
            help="do not pin the server and Locust to separate CPUs",
        )
        add(
            "--target",
            type=_target_url,
            metavar="URL",
            default=_env_default("target", None),
            help="load a server already running at URL (this project, any server model) "
            "instead of starting one per cell; the arms then choose only the paths. It "
            "must answer the arms' ping paths first (default: start our own servers)",
        )
        add(
            "--locust-processes",
            type=_positive_int,
            metavar="N",
            default=_env_default("locust_processes", 1),
            help="1: one Locust process; N > 1: Locust's --processes N, a master and N "
            "workers, pinned to a CPU each while the server keeps one (default: %(default)s)",
        )
        add(
            "--repeat",
            type=_positive_int,
            metavar="K",
            default=_env_default("repeat", 1),
            help="run each cell K times, round-robin (all cells once, then again); the "
            "report gives medians and the RPS spread. Fixed kind only (default: %(default)s)",
        )
        add(
            "--sweep-arm",
            choices=list(ARMS),
            default=_env_default("sweep_arm", SWEEP_ARM),
            help="sweep kind: the server model timed over HTTP (default: %(default)s)",
        )
        add(
            "--sweep-points",
            type=_positive_int,
            default=_env_default("sweep_points", SWEEP_POINTS),
            help="sweep kind: sizes of n per algorithm, geometric, at least 2 "
            "(default: %(default)s)",
        )
        add(
            "--sweep-rounds",
            type=_positive_int,
            default=_env_default("sweep_rounds", SWEEP_ROUNDS),
            help="sweep kind: timed rounds over all sizes; each time is their median "
            "(default: %(default)s)",
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
        add_test_arguments(add, _env_default)
        add(
            "--block",
            type=_block_name,
            default=_env_default("block", None),
            help="name of the report block this run writes (default: the kind's own); "
            "another name keeps a second run of the same kind beside the first",
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
            _check_report_path(options["report"])
            self._render(options["render"], options)
            _check_gate(load_results(options["render"]), options["p95_target_ms"])
            return

        options = resolve_defaults(options)
        _check_report_path(options["report"])
        plan = self._plan(options)
        logger.info("run folder: %s", plan.run_dir)
        _stop_cleanly_on_sigterm()
        try:
            results = run_plan(plan, KINDS[plan.kind].cell_runner)
        except KeyboardInterrupt as interrupt:
            raise CommandError(
                f"interrupted; every server and Locust process was stopped. Partial data: "
                f"{plan.run_dir}; {options['report']} was left as it was.",
                returncode=_interrupt_exit_code(interrupt),
            ) from None
        self._render(plan.run_dir, options)
        _log_failures(results)
        _check_gate(results, options["p95_target_ms"])

    def _plan(self, options) -> RunPlan:
        repeat_count = _repeats(options)
        server_cpus, locust_cpus = (), ()
        if not options["no_pin"]:
            server_cpus, locust_cpus = split_for_locust(
                available_cpus(), options["locust_processes"]
            )
        if options["target"]:
            server_cpus = ()  # not ours to pin
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
            processes=options["locust_processes"],
        )
        cells = self._cells(options)
        if options["target"]:
            _check_target(options["target"], cells)
        # Checked before the run folder is made, so a bad value leaves nothing behind.
        ceiling_repeats = _not_negative(options["ceiling_repeats"], "--ceiling-repeats")
        idle_probe_s = _not_negative(
            _first_set(options["idle_probe_time"], load.run_time_s), "--idle-probe-time"
        )
        plan = RunPlan(
            cells=cells,
            server=server,
            load=load,
            extra=self._extra(options),
            run_dir=new_run_dir(options["runs_dir"]),
            command_line=shlex.join(["python", "manage.py", "bench", *sys.argv[2:]]),
            kind=options["kind"],
            detail=f"{load.users} users, {load.run_time_s} s",
            ceiling_repeats=ceiling_repeats,
            idle_probe_s=idle_probe_s,
            target_url=options["target"],
            repeats=repeat_count,
            block=options["block"] or "",
        )
        finish = KINDS[options["kind"]].finish_plan
        return finish(plan) if finish else plan

    def _cells(self, options) -> list:
        kind = KINDS[options["kind"]]
        if kind.plan_cells is not None:
            try:
                return kind.plan_cells(options)
            except ValueError as error:
                raise CommandError(f"--kind {kind.name}: {error}") from None
        return plan_cells(
            options["arms"], options["algorithms"], options["scenarios"], not options["no_ping"]
        )

    def _extra(self, options) -> dict:
        kind = KINDS[options["kind"]]
        if kind.plan_extra is None:
            return {}
        try:
            return kind.plan_extra(options)
        except ValueError as error:
            raise CommandError(f"--kind {kind.name}: {error}") from None

    def _render(self, run: Path, options) -> None:
        kind = KINDS[_stored_kind(run)]
        render_from_run(
            run, options["report"], options["charts_dir"], kind.sections, kind.make_charts
        )


def _stored_kind(run: Path) -> str:
    """The kind of a stored run, or a clear error if `run` holds none."""
    try:
        results = load_results(run)
        kind = results.get("kind", "fixed")
        results["cells"]
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        raise CommandError(
            f"--render: {run} is not a run folder or its results.json "
            "(the folders that bench writes under --runs-dir)"
        ) from None
    if kind not in KINDS:
        raise CommandError(f"--render: {run} holds a run of unknown kind {kind!r}")
    return kind


def _check_report_path(report: Path) -> None:
    """Fail before any work if the report could not be written."""
    folder = report.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CommandError(f"--report: cannot create the folder {folder}: {error}") from None
    if report.is_dir() or not os.access(folder, os.W_OK):
        raise CommandError(f"--report: cannot write {report}")


def _repeats(options) -> int:
    count = options["repeat"]
    if count > 1 and not KINDS[options["kind"]].repeatable:
        repeatable = ", ".join(kind.name for kind in KINDS.values() if kind.repeatable)
        raise CommandError(
            f"--repeat {count}: the {options['kind']} kind runs each cell once; "
            f"--repeat applies to: {repeatable}"
        )
    return count


def _check_gate(results: dict, target_ms: float | None) -> None:
    """Fail the command, once the report is written, if a cell breaks the p95 target."""
    if target_ms is None:
        return
    breaches = gate_breaches(results, target_ms)
    if breaches:
        raise CommandError(gate_summary(breaches, len(results.get("cells") or []), target_ms))


def _check_target(url: str, cells: list) -> None:
    """Refuse to start when the external server does not answer its ping paths."""
    for ping_path in dict.fromkeys(cell.arm.ping_path for cell in cells):
        try:
            check_target(url, ping_path)
        except ServerError as error:
            raise CommandError(f"--target: {error}") from None


def _stop_cleanly_on_sigterm() -> None:
    """Treat SIGINT, SIGTERM and SIGHUP alike: stop servers and Locust, then exit.

    Python's default for SIGTERM and SIGHUP ends the process at once, which
    would leave the servers it started running in their own sessions; and a
    shell starts a background job with SIGINT ignored, so Ctrl-C's handler
    is set here too.
    """

    def interrupt(signum, frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupt)


def _interrupt_exit_code(interrupt: KeyboardInterrupt) -> int:
    """128 plus the signal's number, as shells report a death by signal."""
    name = interrupt.args[0] if interrupt.args else "SIGINT"
    return 128 + getattr(signal, str(name), signal.SIGINT)


def _configure_logging(verbosity: int) -> None:
    level = logging.DEBUG if verbosity > 1 else logging.INFO
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S"
    )


def _log_failures(results: dict) -> None:
    for failure in results["failures"]:
        logger.warning("failed cell %s: %s", failure["cell"], failure["error"])
    flagged = list(dict.fromkeys(cell["id"] for cell in results["cells"] if cell.get("flags")))
    if flagged:
        logger.warning("cells marked unreliable: %s", ", ".join(flagged))
