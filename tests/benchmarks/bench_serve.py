"""The risk API over loopback: `friction serve --workers 2`, one 50-event session per request,
32 concurrent connections, with and without explanations. In the same run, side by side:

- `serve_reference_fastapi`: FastAPI validating the same body and returning JSON, doing
  nothing else (`serve_reference.py`, 2 workers);
- `serve_mlflow_pyfunc`: `mlflow models serve` (2 workers, `--env-manager local`) of the same
  LightGBM booster, answering 1-row frames of precomputed features (no featurizing, no
  explanation): the issue asks Friction, featurizing and explaining, for >= 4x its throughput
  (`vs_mlflow`).

The load comes from `wrk` (Debian package `wrk`, installed here with apt-get when missing and
running as root): a C client, so the client is not the bottleneck a Python one would be on
2 cores. It still shares the cores with the two server workers, so every figure includes
the client's cost; compare the rows side by side (ratios), not with other days.
Each measured run is bounded in time (`seconds`) after a warm-up (2 s, or half a shorter run);
its request count follows.

The other rows load the server as fast as it answers (closed loop): with 32 connections the
mean latency is then 32 / throughput, so their p99 restates the throughput. The `_at_N` rows
offer N requests/s instead (`offered_per_s`; each wrk thread sends on a fixed schedule on
whichever of its connections is free): their p99 is the latency at that load, the reading of
the issue's "2,000 requests/s with p99 under 20 ms". A row that answers fewer than it was
offered was saturated, and its latencies are those of the closed loop (measured from each
request's send, not from its slot).

`connections_per_worker`: how the server's processes held wrk's 32 connections mid-run (Linux),
e.g. `16/16`; a worker holding more answers each of its clients more slowly. uvicorn's workers
race for one shared socket (the reference and MLflow rows): splits like `28/4` happen there.
`friction serve` gives each worker its own socket (serving.listener).

`sessions_per_call`: sessions of concurrent requests the workers featurized together, on
average over the run (serving.batcher; from the server's /metrics). The `_one_by_one` row
serves with `FRICTION_SCORE_BATCH=1` (each session featurized alone), for comparison.

Last rows: one event appended to a 50-event session in the session stores (in-process,
median of many appends; memory, and the real Redis at 127.0.0.1:6379 when it answers).

scale 1.0: 15 s per measured run; 0.02 (smoke): 2 s per run, about a minute in all.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
WORKERS = 2
CONNECTIONS = 32
EVENTS_PER_REQUEST = 50
SESSIONS = 4_000  # the world the served model is trained on (about 80 sessions reach 50 events)
BODIES = 40  # distinct sessions the client cycles through
STORE_APPENDS = 2_000
WARM_UP_S = 2.0
START_TIMEOUT_S = 120.0

WRK_SCRIPT = r"""
local bodies = {}
local path = "/"
local i = 0

init = function(args)
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
  path = args[2]
end

request = function()
  i = i % #bodies + 1
  return wrk.format("POST", path, nil, bodies[i])
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK{"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,' ..
    '"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


# The closed-loop script, plus a `delay` hook (wrk calls it before each request): the thread's
# requests go out on a fixed schedule of args[3] per second. LuaJIT's FFI reads the monotonic
# clock (wrk's Lua has no wall clock finer than a second).
PACED_SCRIPT = (
    WRK_SCRIPT
    + r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock, bench_timespec *tp);
]]
local clock = ffi.new("bench_timespec")
local interval_ms, next_ms = 0, nil

local function now_ms()
  ffi.C.clock_gettime(1, clock)  -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end

local closed_init = init
init = function(args)
  closed_init(args)
  interval_ms = 1000 / tonumber(args[3])
end

-- A slot missed while every connection was busy is not made up later.
delay = function()
  local now = now_ms()
  local slot = math.max(next_ms or now, now)
  next_ms = slot + interval_ms
  return math.floor(slot - now + 0.5)
end
"""
)
THREADS = 2
OFFERED_PER_S = (1_000, 2_000)  # the 2,000, and half of it


def _wrk() -> str:
    found = shutil.which("wrk")
    if found is None and os.geteuid() == 0:
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "wrk"], capture_output=True, timeout=600, check=False
        )
        found = shutil.which("wrk")
    if found is None:
        raise RuntimeError("wrk is not installed and could not be: `apt-get install wrk` (as root)")
    return found


@dataclass(frozen=True)
class Load:
    """What wrk sends: POST `path` with the bodies of a JSON Lines file, round robin, to the
    server whose process is `server_pid` (`scripts`: the folder of `post.lua` and `paced.lua`)."""

    wrk: str
    scripts: Path
    url: str
    path: str
    bodies: Path
    key: str
    server_pid: int

    def run(self, seconds: float, offered: float | None = None) -> dict[str, Any]:
        """One wrk run: closed loop, or `offered` requests/s in all."""
        script, pace = ("post.lua", []) if offered is None else ("paced.lua", [str(offered / THREADS)])
        command = [
            self.wrk, "-t", str(THREADS), "-c", str(CONNECTIONS), "-d", f"{seconds:.0f}s", "--timeout", "10s",
            "-H", "Content-Type: application/json", "-H", f"X-API-Key: {self.key}",
            "-s", str(self.scripts / script), self.url, "--", str(self.bodies), self.path, *pace,
        ]  # fmt: skip
        from tests.serving.processes import connections_per_process

        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as client:
            time.sleep(seconds / 2)
            # How the server's processes share wrk's connections, mid-run (Linux): uvicorn's
            # workers racing for one socket can split them very unevenly (serving.listener).
            port = int(self.url.rsplit(":", 1)[1])
            split = connections_per_process(self.server_pid, port) if sys.platform == "linux" else []
            out, err = client.communicate(timeout=seconds + 60)
        if client.returncode != 0:
            raise RuntimeError(f"wrk failed ({client.returncode}): {err[-2000:]}")
        line = next(x for x in out.splitlines() if x.startswith("WRK{"))
        found: dict[str, Any] = json.loads(line.removeprefix("WRK"))
        found["split"] = "/".join(map(str, split))
        return found

    def probe(self) -> None:
        """One request first: a server that refuses the bodies would make the figures meaningless."""
        from tests.serving.processes import request_json

        body = json.loads(self.bodies.read_text().splitlines()[0])
        status, answer = request_json(f"{self.url}{self.path}", body, key=self.key, timeout=30)
        if status != 200:
            raise RuntimeError(f"POST {self.path} answered {status}: {str(answer)[:500]}")

    def measure(
        self, name: str, seconds: float, offered: float | None = None, **extra: Any
    ) -> dict[str, Any]:
        self.probe()
        self.run(min(WARM_UP_S, seconds / 2), offered)  # first requests of each worker and connection
        found = self.run(seconds, offered)
        errors = sum(found[k] for k in ("connect", "read", "write", "status", "timeout"))
        return {
            "benchmark": name if offered is None else f"{name}_at_{offered:.0f}",
            "client": f"wrk -t{THREADS}",
            "workers": WORKERS,
            "connections": CONNECTIONS,
            "offered_per_s": offered,
            **extra,
            "seconds": seconds,
            "requests": found["requests"],
            "requests_per_s": found["requests"] / (found["duration_us"] / 1e6),
            "p50_ms": found["p50_us"] / 1000,
            "p90_ms": found["p90_us"] / 1000,
            "p99_ms": found["p99_us"] / 1000,
            "max_ms": found["max_us"] / 1000,
            "errors": errors,
            "connections_per_worker": found["split"],
        }


@contextmanager
def _server(
    command: Sequence[str], ready: str, folder: Path, env: Mapping[str, str] | None = None
) -> Iterator[tuple[str, int]]:
    """A server process in its own process group until the block ends; yields its base URL and
    pid once GET `ready` answers 200 (bounded wait)."""
    from tests.serving.processes import request_json

    url = ready.rsplit("/", 1)[0]
    log_path = folder / f"{Path(command[0]).name}-{os.getpid()}-{time.monotonic_ns()}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, cwd=folder, env=env, start_new_session=True
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                if request_json(ready, key=None, timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{command[0]} did not start: " + log_path.read_text()[-3000:])
            time.sleep(0.2)
        yield url, process.pid
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # its own group: the server and its workers
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def _batches(url: str) -> tuple[float, float]:
    """(featurizer calls, sessions in them) so far, from the server's /metrics (serving.batcher)."""
    from tests.serving.processes import API_KEY, request_json

    status, text = request_json(f"{url}/metrics", key=API_KEY, timeout=30)
    if status != 200:
        raise RuntimeError(f"GET /metrics answered {status}")
    found = dict.fromkeys(("count", "sum"), 0.0)
    for line in str(text).splitlines():
        for part in found:
            if line.startswith(f"friction_score_batch_sessions_{part} "):
                found[part] = float(line.split()[-1])
    return found["count"], found["sum"]


def _reference_command(port: int) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", "serve_reference:create_app", "--factory", "--app-dir", str(HERE),
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(WORKERS), "--no-access-log",
        "--log-level", "warning",
    ]  # fmt: skip


def _mlflow_model(model_dir: Path, rows: Any, folder: Path) -> tuple[Path, Path]:
    """The served booster as an MLflow LightGBM model, and 1-row `dataframe_split` bodies of
    the features it reads (precomputed; NaN kept as JSON NaN, which MLflow's parser reads)."""
    import mlflow.lightgbm
    import numpy as np

    from models.artifact import FrictionModel

    model = FrictionModel.load(model_dir)
    path = folder / "mlflow-model"
    # Stated requirements: MLflow would otherwise infer them in a subprocess (~15 s).
    mlflow.lightgbm.save_model(model.booster, str(path), pip_requirements=["lightgbm"])
    matrix = np.asarray(model.manifest.matrix(rows, strict=False), dtype=np.float64)
    columns = list(model.manifest.names)
    bodies = folder / "mlflow-bodies.jsonl"
    lines = (json.dumps({"dataframe_split": {"columns": columns, "data": [row.tolist()]}}) for row in matrix)
    bodies.write_text("\n".join(lines) + "\n")
    return path, bodies


def _model_and_bodies(folder: Path) -> tuple[Path, list[dict[str, Any]], Any]:
    """A model trained on a simulated world, score bodies of its 50-event sessions, and those
    sessions' rows of the feature table."""
    from features.config import context_names, load_config
    from features.featurize import Featurizer
    from pipelines.simulator import simulate, write_world
    from tests.serving.processes import session_bodies
    from training.config import LightGBMParams, TrainConfig
    from training.flow import train_and_track

    world = simulate(SESSIONS, seed=11)
    config = load_config(write_world(world, folder / "world")["config"])
    featurizer = Featurizer(config)
    table = featurizer(world.events).frame
    outcome = train_and_track(
        table,
        TrainConfig(lightgbm=LightGBMParams(num_threads=1)),
        out=folder / "model",
        track=False,
        truth=world.truth,
        catalog=featurizer.catalog(list(world.events.columns)).to_records(),
        featurizer_config=config,
    )
    assert outcome.model_dir is not None
    context = list(context_names(config.events.context))
    bodies = session_bodies(world.events, context, length=EVENTS_PER_REQUEST, limit=BODIES)
    if len(bodies) < BODIES // 2:
        raise RuntimeError(f"only {len(bodies)} simulated sessions have {EVENTS_PER_REQUEST} events")
    chosen = table[table["session_id"].isin([b["session_id"] for b in bodies])]
    return outcome.model_dir, bodies, chosen


def _store_rows() -> list[dict[str, Any]]:
    import asyncio
    import secrets

    from serving.store import RedisStore, SessionStore, open_store

    event = {"timestamp": "2026-11-23T10:00:00+00:00", "event": "click", "page": "/cart", "x": 1.0}

    async def median_ms(store: SessionStore) -> float:
        # Sessions of 49 events, then one event appended at a time, round robin (they end near 60).
        sessions = [f"s{i}" for i in range(STORE_APPENDS // 10)]
        for session in sessions:
            await store.append(session, [event] * (EVENTS_PER_REQUEST - 1))
        times = []
        for i in range(STORE_APPENDS):
            started = time.perf_counter()
            await store.append(sessions[i % len(sessions)], [event])
            times.append(time.perf_counter() - started)
        return statistics.median(times) * 1000

    async def measure() -> list[dict[str, Any]]:
        rows = []
        limits = {"max_sessions": 10_000, "ttl_s": 600.0, "max_events": 10_000}
        memory = open_store(None, **limits)
        rows.append({"benchmark": "store_append_memory", "median_ms": await median_ms(memory)})
        redis = open_store("redis://127.0.0.1:6379/0", **limits, key_prefix=f"bench:{secrets.token_hex(4)}:")
        try:
            rows.append({"benchmark": "store_append_redis", "median_ms": await median_ms(redis)})
        except Exception as exc:  # no Redis here: say so in the row
            rows.append({"benchmark": "store_append_redis", "error": str(exc)})
        finally:
            assert isinstance(redis, RedisStore)
            await redis.delete_all()
            await redis.close()
        return rows

    return asyncio.run(measure())


def run(scale: float) -> list[dict[str, Any]]:
    sys.path.insert(0, str(REPO))  # tests.serving.processes: the same process harness the tests use
    from tests.serving.processes import API_KEY, free_port, serving_process

    seconds = max(2.0, round(15 * scale))
    wrk = _wrk()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model_dir, bodies, features = _model_and_bodies(folder)
        files = {}
        for explain in (False, True):
            files[explain] = folder / f"bodies-explain-{explain}.jsonl"
            files[explain].write_text("".join(json.dumps(b | {"explain": explain}) + "\n" for b in bodies))
        (folder / "post.lua").write_text(WRK_SCRIPT)
        (folder / "paced.lua").write_text(PACED_SCRIPT)
        events = {"events_per_request": EVENTS_PER_REQUEST}

        port = free_port()
        with _server(_reference_command(port), f"http://127.0.0.1:{port}/healthz", folder) as (url, pid):
            load = Load(wrk, folder, url, "/v1/score", files[False], API_KEY, pid)
            reference = load.measure("serve_reference_fastapi", seconds, **events)
            at_target = load.measure("serve_reference_fastapi", seconds, max(OFFERED_PER_S), **events)
        rows += [reference, at_target]

        mlflow_dir, mlflow_bodies = _mlflow_model(model_dir, features, folder)
        port = free_port()
        mlflow = [
            str(Path(sys.executable).with_name("mlflow")), "models", "serve", "-m", str(mlflow_dir),
            "--env-manager", "local", "--workers", str(WORKERS), "-h", "127.0.0.1", "-p", str(port),
        ]  # fmt: skip
        # It starts `uvicorn` by name: the environment's bin must be on PATH.
        env = os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        with _server(mlflow, f"http://127.0.0.1:{port}/ping", folder, env) as (url, pid):
            load = Load(wrk, folder, url, "/invocations", mlflow_bodies, API_KEY, pid)
            baseline = load.measure("serve_mlflow_pyfunc", seconds, rows_per_request=1)
        rows.append(baseline)

        args = ["--reload-interval", "0", "--graceful-timeout", "5"]
        # Default (closed loop, then at the offered loads), then without batching (each session
        # featurized alone) for the comparison.
        paced: list[tuple[bool, float | None]] = [(False, offered) for offered in OFFERED_PER_S]
        runs: list[tuple[dict[str, str], str, list[tuple[bool, float | None]]]] = [
            ({}, "", [(False, None), *paced, (True, None)]),
            ({"FRICTION_SCORE_BATCH": "1"}, "_one_by_one", [(False, None)]),
        ]
        for env, suffix, modes in runs:
            with serving_process(
                str(model_dir), folder / "serve", workers=WORKERS, args=args, env=env
            ) as server:
                for explain, offered in modes:
                    load = Load(
                        wrk, folder, server.url, "/v1/score", files[explain], API_KEY, server.process.pid
                    )
                    name = f"serve_friction_{'explain' if explain else 'no_explain'}{suffix}"
                    calls, sessions = _batches(server.url)
                    row = load.measure(name, seconds, offered, **events)
                    calls_after, sessions_after = _batches(server.url)  # warm-up included
                    share = (sessions_after - sessions) / max(calls_after - calls, 1)
                    rows.append(row | {"sessions_per_call": share})
    for row in rows:
        row["vs_reference"] = row["requests_per_s"] / reference["requests_per_s"]
        row["vs_mlflow"] = row["requests_per_s"] / baseline["requests_per_s"]
    return rows + _store_rows()
