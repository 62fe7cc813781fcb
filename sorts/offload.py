"""Where an async view sends its work: a thread pool or a process pool.

Each server worker process creates its pools lazily, on the first request
that needs one, and shuts them down when the server stops (see
`sorts.lifespan`). Pool sizes come from settings.
"""

import asyncio
import atexit
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor

from django.conf import settings

from sorts.jobs import Job, Outcome, run_job

PARENT_CHECK_INTERVAL_S = 0.5

_lock = threading.Lock()
_pools: dict[str, Executor] = {}


def thread_pool() -> Executor:
    return _get_pool("thread", _new_thread_pool)


def process_pool() -> Executor:
    return _get_pool("process", _new_process_pool)


async def run_in_process_pool(job: Job, submitted_at: float) -> Outcome:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(process_pool(), run_job, job, submitted_at)


def discard_process_pool() -> None:
    """Forget a broken pool so that the next request starts a new one."""
    with _lock:
        pool = _pools.pop("process", None)
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


def shutdown_pools() -> None:
    """Stop every pool this process created; queued jobs are cancelled."""
    with _lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.shutdown(wait=True, cancel_futures=True)


def _get_pool(kind: str, create) -> Executor:
    with _lock:
        if kind not in _pools:
            _pools[kind] = create()
        return _pools[kind]


def _new_thread_pool() -> Executor:
    return ThreadPoolExecutor(
        max_workers=settings.ASYNCPROJ_THREAD_POOL_SIZE,
        thread_name_prefix="sort",
    )


def _new_process_pool() -> Executor:
    # "spawn" rather than fork: a forked child would inherit the server's
    # listening socket and keep the port bound if it outlived the server.
    return ProcessPoolExecutor(
        max_workers=settings.ASYNCPROJ_PROCESS_POOL_SIZE,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_pool_process,
        initargs=(os.getpid(),),
    )


def _init_pool_process(parent_pid: int) -> None:
    # Ctrl-C in a terminal reaches the whole process group; the server
    # shuts the pool down itself, so a child must not die half-way first.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    watchdog = threading.Thread(target=_exit_when_orphaned, args=(parent_pid,), daemon=True)
    watchdog.start()


def _exit_when_orphaned(parent_pid: int) -> None:
    # If the server is killed outright it cannot shut its pool down; a child
    # whose parent is gone has no one to answer to, so it leaves.
    while os.getppid() == parent_pid:
        time.sleep(PARENT_CHECK_INTERVAL_S)
    os._exit(0)


atexit.register(shutdown_pools)
