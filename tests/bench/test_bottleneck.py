"""Server CPU accounting, efficiency and saturation, on synthetic data."""

import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from bench import bottleneck
from bench.analysis import Request, write_request_log
from bench.bottleneck import (
    CpuMeter,
    CpuSample,
    cpu_at,
    cpu_flags,
    efficiency,
    from_run,
    load_window,
    loaded_probe,
    measure_server_cpu,
    others_share,
    probe_latency,
    probe_ratio,
    saturation,
    server_cpu_record,
    successful_rps,
    utilisation,
)

T0 = 1_700_000_000.0  # an epoch second, as in Locust's request log


class ScriptedTree:
    """Stand-ins for the meter's readings: one scripted tree per sample."""

    def __init__(self, trees: list[dict], busy: list[float]) -> None:
        self.trees = list(trees)
        self.busy = list(busy)

    def tree_cpu(self, pid: int) -> dict:
        return self.trees.pop(0)

    def busy_seconds(self, cpus) -> float:
        return self.busy.pop(0)


@pytest.fixture
def scripted(monkeypatch):
    def install(trees: list[dict], busy: list[float] | None = None, cpus=(0,)) -> None:
        script = ScriptedTree(trees, busy or [0.0] * len(trees))
        monkeypatch.setattr(bottleneck, "_tree_cpu", script.tree_cpu)
        monkeypatch.setattr(bottleneck, "_busy_seconds", script.busy_seconds)
        monkeypatch.setattr(bottleneck, "_affinity", lambda pid: list(cpus))

    return install


def sampled(meter: CpuMeter, count: int) -> CpuMeter:
    for _ in range(count):
        meter.sample()
    return meter


def requests(starts_and_ms: list[tuple[float, float]], name: str = "/sync/bubble/ [s1]"):
    return [Request(T0 + start, ms, name, True, 8) for start, ms in starts_and_ms]


# --- the meter ------------------------------------------------------------------------


def test_a_process_running_before_the_meter_counts_only_what_it_uses_afterwards(scripted):
    scripted([{(1, 0.0): 10.0}, {(1, 0.0): 12.5}])

    meter = sampled(CpuMeter(1), 2)

    assert [sample.cpu_s for sample in meter.samples] == [0.0, 2.5]


def test_a_process_born_during_the_measurement_counts_from_its_birth(scripted):
    scripted([{(1, 0.0): 10.0}, {(1, 0.0): 11.0, (7, 5.0): 0.5}, {(1, 0.0): 12.0, (7, 5.0): 2.0}])

    meter = sampled(CpuMeter(1), 3)

    assert [sample.cpu_s for sample in meter.samples] == [0.0, 1.5, 4.0]
    assert (meter.processes, meter.exited) == (2, 0)


def test_a_process_that_exits_keeps_what_it_used_up_to_its_last_sample(scripted):
    scripted([{(1, 0.0): 1.0, (7, 5.0): 3.0}, {(1, 0.0): 1.0, (7, 5.0): 4.0}, {(1, 0.0): 1.5}])

    meter = sampled(CpuMeter(1), 3)

    assert meter.samples[-1].cpu_s == pytest.approx(1.5)
    assert meter.exited == 1


def test_a_reused_pid_with_a_new_start_time_is_a_new_process(scripted):
    scripted([{(7, 5.0): 3.0}, {(7, 9.0): 0.25}])

    meter = sampled(CpuMeter(7), 2)

    assert meter.samples[-1].cpu_s == pytest.approx(0.25)
    assert meter.exited == 1


def test_busy_time_of_the_servers_cpus_is_counted_from_the_meters_start(scripted):
    scripted([{(1, 0.0): 0.0}] * 3, busy=[100.0, 100.8, 101.0], cpus=(0, 1))

    meter = sampled(CpuMeter(1), 3)

    assert [sample.busy_s for sample in meter.samples] == pytest.approx([0.0, 0.8, 1.0])
    assert (meter.cpus, meter.cores) == ([0, 1], 2)


def test_the_busiest_process_share_is_of_the_trees_cpu(scripted):
    scripted([{(1, 0.0): 0.0, (2, 0.0): 0.0}, {(1, 0.0): 3.0, (2, 0.0): 1.0}])

    meter = sampled(CpuMeter(1), 2)

    assert meter.busiest_share() == pytest.approx(0.75)


def test_cpu_at_interpolates_between_samples_and_stays_flat_outside():
    samples = [CpuSample(10.0, 0.0, 0.0), CpuSample(12.0, 1.0, 2.0), CpuSample(14.0, 3.0, 2.0)]

    assert cpu_at(samples, 9.0) == 0.0
    assert cpu_at(samples, 11.0) == pytest.approx(0.5)
    assert cpu_at(samples, 13.0) == pytest.approx(2.0)
    assert cpu_at(samples, 13.0, "busy_s") == pytest.approx(2.0)
    assert cpu_at(samples, 20.0) == 3.0
    assert cpu_at([], 5.0) == 0.0


def test_the_meter_measures_a_real_busy_child_and_its_own_sampler_stops():
    burn = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"
    child = subprocess.Popen([sys.executable, "-c", burn])
    try:
        server = SimpleNamespace(process=child)
        with measure_server_cpu(server, interval_s=0.05) as meter:
            child.wait(timeout=30)
            time.sleep(0.1)
    finally:
        child.kill()
        child.wait()

    assert len(meter.samples) >= 2
    assert meter.samples[-1].cpu_s > 0
    assert meter._thread is not None and not meter._thread.is_alive()


def test_there_is_no_meter_without_a_server_of_ours():
    with measure_server_cpu(None) as meter:
        pass

    assert meter is None
    assert server_cpu_record(None, []) is None


# --- the record -----------------------------------------------------------------------------


def meter_with(samples: list[CpuSample], cores: int = 1, busiest: float = 1.0, exited: int = 0):
    """A meter as the record reads it, with chosen samples."""
    return SimpleNamespace(
        samples=samples,
        cores=cores,
        cpus=list(range(cores)),
        interval_s=0.25,
        processes=3,
        exited=exited,
        busiest_share=lambda: busiest,
        cpu_between=lambda a, b: cpu_at(samples, b) - cpu_at(samples, a),
        busy_between=lambda a, b: cpu_at(samples, b, "busy_s") - cpu_at(samples, a, "busy_s"),
    )


def test_the_load_window_runs_from_the_first_request_sent_to_the_last_answer():
    window = load_window(requests([(1.0, 500.0), (2.0, 3000.0), (4.0, 10.0)]))

    assert window == (pytest.approx(T0 + 1.0), pytest.approx(T0 + 5.0))
    assert load_window([]) is None


def test_the_record_gives_cpu_per_request_and_utilisation_over_the_load_window():
    # Idle for 2 s, then 4 s with the two cores busy 75 % with the server
    # and 20 % with others, then idle again.
    samples = [
        CpuSample(T0, 0.0, 0.0),
        CpuSample(T0 + 2.0, 0.0, 0.0),
        CpuSample(T0 + 6.0, 6.0, 7.6),
        CpuSample(T0 + 9.0, 6.0, 7.6),
    ]
    load = requests([(2.0, 100.0), (3.0, 100.0), (5.9, 100.0)])

    record = server_cpu_record(meter_with(samples, cores=2, busiest=0.5), load)

    assert record["window_s"] == pytest.approx(4.0)
    assert record["window_cpu_s"] == pytest.approx(6.0)
    assert record["utilisation"] == pytest.approx(0.75)
    assert record["cpus_busy"] == pytest.approx(0.95)
    assert others_share(record) == pytest.approx(0.20)
    assert record["busiest_process_cores"] == pytest.approx(0.75)
    assert record["cpu_ms_per_request"] == pytest.approx(2000.0)
    assert (record["cpu_s"], record["wall_s"]) == (pytest.approx(6.0), pytest.approx(9.0))


def test_cpu_per_request_is_charged_to_the_served_requests_of_the_load_itself():
    samples = [CpuSample(T0, 0.0, 0.0), CpuSample(T0 + 2.0, 1.2, 1.2)]
    load = requests([(0.0, 10.0), (1.0, 10.0), (1.5, 10.0)])
    load += requests([(0.5, 1.0), (1.9, 100.0)], name="probe /async/ping/")
    load.append(Request(T0 + 1.2, 1.0, "/async/process/bubble/ [s1]", False, 8))

    record = server_cpu_record(meter_with(samples), load)

    assert (record["requests"], record["served"]) == (6, 3)
    assert record["window_s"] == pytest.approx(2.0)
    assert record["cpu_ms_per_request"] == pytest.approx(1.2 * 1000 / 3)


def test_a_run_of_probes_alone_charges_its_cpu_to_the_probes():
    samples = [CpuSample(T0, 0.0, 0.0), CpuSample(T0 + 2.0, 0.01, 0.01)]
    probes = requests([(0.5, 1.0), (1.0, 1.0)], name="probe /sync/ping/")

    record = server_cpu_record(meter_with(samples), probes)

    assert record["served"] == 2


def test_without_requests_the_record_spans_the_whole_measurement():
    samples = [CpuSample(T0, 0.0, 0.0), CpuSample(T0 + 2.0, 1.0, 1.0)]

    record = server_cpu_record(meter_with(samples), [])

    assert record["utilisation"] == pytest.approx(0.5)
    assert record["cpu_ms_per_request"] is None


@pytest.mark.parametrize(
    ("cpu_s", "wall_s", "cores", "expected"),
    [(3.0, 2.0, 2, 0.75), (1.0, 0.0, 1, None), (1.0, 1.0, None, None)],
)
def test_utilisation_is_cpu_seconds_per_wall_second_per_core(cpu_s, wall_s, cores, expected):
    assert utilisation(cpu_s, wall_s, cores) == expected


def test_a_cell_whose_server_processes_exited_is_flagged_for_its_cpu_gap():
    flags = cpu_flags({"exited": 2, "sample_interval_s": 0.25})

    assert "2 server process(es) exited during the cell" in flags["server_cpu_gap"]
    assert cpu_flags({"exited": 0}) == {}
    assert cpu_flags(None) == {}


# --- efficiency and saturation ------------------------------------------------------------


def results_with_ceiling(cpu_median_ms: float = 50.0, cpus=(0,)) -> dict:
    return {
        "ceiling": {
            "status": "ok",
            "cpus": list(cpus),
            "jobs": {"bubble/s1": {"median_ms": 80.0, "cpu_median_ms": cpu_median_ms}},
        }
    }


def heavy_cell(rps=18.0, requests=360, failures=0, server_cpu=None, flags=None, **values) -> dict:
    cell = {
        "id": "wsgi-sync/bubble/s1",
        "arm": "wsgi-sync",
        "server": "gunicorn",
        "algorithm": "bubble",
        "scenario": 1,
        "status": "ok",
        "stats": {"rps": rps, "requests": requests, "failures": failures, "p95_ms": 900.0},
        "probe": {"requests": 30, "p50_ms": 400.0, "p95_ms": 450.0},
        "server_cpu": server_cpu,
        "flags": flags or {},
    }
    cell.update(values)
    return cell


def test_successful_rps_leaves_the_failed_share_out():
    assert successful_rps({"rps": 20.0, "requests": 100, "failures": 25}) == pytest.approx(15.0)
    assert successful_rps({"rps": 20.0, "requests": 0}) is None
    assert successful_rps(None) is None


def test_efficiency_is_the_throughput_over_cores_divided_by_the_cpu_time_of_one_request():
    cell = heavy_cell(rps=18.0, server_cpu={"cores": 1})

    rating = efficiency(cell, results_with_ceiling(cpu_median_ms=50.0))

    assert rating["ceiling_rps"] == pytest.approx(20.0)
    assert rating["efficiency"] == pytest.approx(0.9)
    assert rating["work_ms"] == 50.0


def test_efficiency_uses_the_ceilings_cpu_set_when_the_server_was_not_measured():
    rating = efficiency(heavy_cell(rps=30.0), results_with_ceiling(50.0, cpus=(0, 1, 2)))

    assert rating["cores"] == 3
    assert rating["efficiency"] == pytest.approx(0.5)


def test_there_is_no_efficiency_without_a_ceiling_for_the_job_or_for_ping_cells():
    assert efficiency(heavy_cell(), {}) is None
    assert efficiency(heavy_cell(algorithm="builtin"), results_with_ceiling()) is None
    assert efficiency(heavy_cell(algorithm="ping", scenario=None), results_with_ceiling()) is None
    assert efficiency(heavy_cell(status="error"), results_with_ceiling()) is None
    failed_ceiling = {"ceiling": {**results_with_ceiling()["ceiling"], "status": "error"}}
    assert efficiency(heavy_cell(), failed_ceiling) is None


@pytest.mark.parametrize(
    ("server_cpu", "flags", "verdict"),
    [
        ({"utilisation": 0.97, "cpus_busy": 0.98}, {}, "server CPU"),
        ({"utilisation": 0.55, "cpus_busy": 0.97}, {}, "server's CPUs, shared with others"),
        (
            {"utilisation": 0.35, "cpus_busy": 0.4, "busiest_process_cores": 0.95},
            {},
            "one server process",
        ),
        ({"utilisation": 0.4, "cpus_busy": 0.4}, {"cpu_warning": "..."}, "Locust CPU"),
        ({"utilisation": 0.95}, {"cpu_warning": "..."}, "server CPU and Locust CPU"),
        ({"utilisation": 0.4, "cpus_busy": 0.45}, {}, "neither"),
        (None, {}, "not measured"),
    ],
)
def test_saturation_says_who_ran_out_of_cpu(server_cpu, flags, verdict):
    assert saturation(heavy_cell(server_cpu=server_cpu, flags=flags)) == verdict


def test_the_probe_ratio_compares_the_loaded_probe_with_the_arms_idle_probe():
    results = {"idle_probe": {"wsgi-sync": {"status": "ok", "stats": {"p95_ms": 9.0}}}}

    assert probe_ratio(heavy_cell(), results) == pytest.approx(50.0)
    assert probe_ratio(heavy_cell(arm="asgi-loop"), results) is None
    failed = {"idle_probe": {"wsgi-sync": {"status": "error", "stats": None}}}
    assert probe_ratio(heavy_cell(), failed) is None


# --- the probe's latency -------------------------------------------------------------


def test_the_probe_latency_leaves_out_the_first_probe_and_the_heavy_requests():
    probes = requests([(0.0, 40.0), (0.5, 2.0), (1.0, 4.0), (1.5, 3.0)], "probe /sync/ping/")
    heavy = requests([(0.1, 900.0)])

    latency = probe_latency(heavy + probes)

    assert latency["requests"] == 3
    assert (latency["p50_ms"], latency["max_ms"]) == (3.0, 4.0)
    assert latency["p95_ms"] == pytest.approx(3.9)
    assert probe_latency(heavy + probes[:1]) is None


def test_a_run_is_read_once_for_its_server_cpu_and_its_probe(tmp_path):
    prefix = tmp_path / "locust"
    logged = requests([(0.0, 50.0), (1.0, 50.0)]) + requests(
        [(0.2, 30.0), (0.7, 2.0), (1.2, 2.0)], "probe /async/ping/"
    )
    write_request_log(f"{prefix}_requests.csv", logged)
    samples = [CpuSample(T0, 0.0, 0.0), CpuSample(T0 + 2.0, 0.2, 0.2)]

    measured = from_run(meter_with(samples), prefix)

    assert measured["server_cpu"]["requests"] == 5
    assert measured["server_cpu"]["served"] == 2
    assert measured["probe_latency"]["requests"] == 2


def test_a_cells_probe_figures_come_from_the_request_log_when_it_was_read():
    cell = heavy_cell(probe_latency={"p95_ms": 3.0})

    assert loaded_probe(cell) == {"p95_ms": 3.0}
    assert loaded_probe(heavy_cell())["p95_ms"] == 450.0
