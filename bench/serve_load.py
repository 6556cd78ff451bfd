"""A bounded load test of `fairtune serve` on loopback: the PyTorch model in fp32 (the baseline) against the
ONNX int8 variant, the FFN-pruned ONNX int8 variant and the layer-dropped (4 of 6 layers) ONNX int8 variant,
and, where the CPU runs bf16 natively, the model and the layer-dropped one under bf16 autocast; one after
the other in this run, with the same requests.

Run from the project root, with nothing else running:

    .venv/bin/python bench/serve_load.py

It needs runs/sst2-minilm and its compressed variants (`fairtune compress runs/sst2-minilm --onnx`, then
`--prune 0.5 --prune-method ffn --recover-steps 300` and `--onnx --source pruned-ffn-50`, then `--prune
0.34 --prune-method layers --recover-steps 600 --distill-weight 0.5` and `--onnx --source
pruned-layers-34`; built here with --no-audit if missing). For each variant a real server is started with
`fairtune serve` on a free port, then `--requests` POST /v1/predict requests (one SST-2 dev sentence each,
cycling through the 872) are sent by `--concurrency` concurrent clients (httpx, asyncio). Reported:
throughput (requests/s), latency p50/p95/p99 seen by the clients, errors (any non-200 or transport error)
and the server's mean batch size from /metrics. Results: bench/results/<host-class>/serve_load.json
({VARIANT: {...}} for each variant, and the run's summary and settings under "meta").

Client and server share the machine's cores, so the figures are lower than a server alone would reach.

With --monitor-compare, the same load is sent to the model served without and with `--monitor` (the drift
window of `fairtune serve`), the two arms interleaved (off, on, on, off, ...) over --repeats rounds so that
a drift of the machine's speed falls on both; reported: each arm's throughput, the median ratio
monitored/unmonitored, and what the monitor did with the texts (/v1/drift: seen, dropped, tests, errors).
Results: bench/results/<host-class>/serve_load_monitor.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, fairtune, trained_run, write_results

CONFIG = ROOT / "configs" / "sst2-minilm.yaml"
#: "fp32": the run's own model in fp32 (the baseline); "bf16": the same under bf16 autocast; "NAME@bf16":
#: the PyTorch variant NAME under bf16 autocast; other names: compressed variants as they are.
VARIANTS = ("fp32", "onnx-int8", "pruned-ffn-50+onnx-int8", "pruned-layers-34+onnx-int8")
#: Added where the CPU runs bf16 natively (AVX512-BF16 or AMX); elsewhere bf16 is emulated and slow.
BF16_VARIANTS = ("bf16", "pruned-layers-34@bf16")
#: How each variant is built if runs/sst2-minilm lacks it (fairtune compress arguments).
BUILD = {
    "onnx-int8": [["--onnx"]],
    "pruned-ffn-50+onnx-int8": [
        ["--prune", "0.5", "--prune-method", "ffn", "--recover-steps", "300"],
        ["--onnx", "--source", "pruned-ffn-50"],
    ],
    "pruned-layers-34+onnx-int8": [
        ["--prune", "0.34", "--prune-method", "layers", "--recover-steps", "600", "--distill-weight", "0.5"],
        ["--onnx", "--source", "pruned-layers-34"],
    ],
}
BUILD["pruned-layers-34"] = BUILD["pruned-layers-34+onnx-int8"][:1]


def serve_args(variant: str) -> list[str]:
    """`fairtune serve` arguments for one of VARIANTS or BF16_VARIANTS."""
    if variant in ("fp32", "bf16"):
        return ["--precision", variant]
    name, _, precision = variant.partition("@")
    return ["--variant", name, *(["--precision", precision] if precision else [])]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Connection:
    """One keep-alive HTTP/1.1 connection that POSTs JSON and reads the answer: a load generator that
    costs a fraction of httpx's CPU per request, which matters when it shares the cores with the server."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        try:
            self.writer.write(head.encode() + body)
            lines = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            fields = dict(h.lower().partition(":")[::2] for h in lines[1:] if h)
            length = int(fields["content-length"])
            return status, await self.reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, KeyError, ValueError):
            self.close()  # the next request opens a new connection
            raise ConnectionError(f"POST {path} failed") from None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def load(url: str, texts: list[str], n: int, concurrency: int, client: str = "raw") -> dict[str, Any]:
    """`n` requests of one text each from `concurrency` workers, each on its own keep-alive connection:
    with `client="raw"` over `Connection`, with `client="httpx"` over an httpx.AsyncClient."""
    import httpx
    import numpy as np

    latencies: list[float] = []
    errors = 0
    counter = iter(range(n))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    host, port = url.split("//")[1].split(":")

    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as hx:

        async def worker() -> None:
            nonlocal errors
            conn = Connection(host, int(port))
            for i in counter:
                body = json.dumps({"texts": [texts[i % len(texts)]]}).encode()
                t0 = time.perf_counter()
                try:
                    if client == "raw":
                        status, answer = await conn.post("/v1/predict", body)
                    else:
                        r = await hx.post(
                            "/v1/predict", content=body, headers={"Content-Type": "application/json"}
                        )
                        status, answer = r.status_code, r.content
                    ok = status == 200 and len(json.loads(answer)["predictions"]) == 1
                except (ConnectionError, httpx.HTTPError, ValueError, KeyError):
                    ok = False
                latencies.append((time.perf_counter() - t0) * 1000)
                errors += 0 if ok else 1
            conn.close()

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
        prom = (await hx.get("/metrics")).text
    lat = np.asarray(latencies)
    batches = float(re.search(r"^fairtune_batch_size_count (\S+)$", prom, re.M).group(1))  # type: ignore[union-attr]
    batched = float(re.search(r"^fairtune_batch_size_sum (\S+)$", prom, re.M).group(1))  # type: ignore[union-attr]
    return {
        "requests": n,
        "errors": errors,
        "throughput": n / wall,
        "p50_ms": float(np.percentile(lat, 50)),
        "p95_ms": float(np.percentile(lat, 95)),
        "p99_ms": float(np.percentile(lat, 99)),
        "seconds": wall,
        "mean_batch_size": batched / max(batches, 1),
    }


async def explaining(url: str, texts: list[str], stop: asyncio.Event) -> int:
    """Keep one /v1/explain request of 8 texts in flight until `stop`; return how many were answered."""
    host, port = url.split("//")[1].split(":")
    conn, done, k = Connection(host, int(port)), 0, 0
    while not stop.is_set():
        body = json.dumps({"texts": [texts[(k + i) % len(texts)] for i in range(8)]}).encode()
        k += 8
        try:
            status, _ = await conn.post("/v1/explain", body)
            done += status == 200
        except ConnectionError:
            await asyncio.sleep(0.1)
    conn.close()
    return done


async def load_with_explain(
    url: str, texts: list[str], n: int, concurrency: int, client: str
) -> dict[str, Any]:
    """`load` while one explanation request is always in flight."""
    stop = asyncio.Event()
    background = asyncio.create_task(explaining(url, texts, stop))
    await asyncio.sleep(0.5)  # let the first explanation start
    out = await load(url, texts, n, concurrency, client)
    stop.set()
    out["explanations_answered"] = await background
    return out


def run_variant(
    run: Path,
    variant: str,
    texts: list[str],
    args: argparse.Namespace,
    source: Path | None = None,
    extra: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Serve `variant` (from the package in `source`/src when given, else this tree, with the `fairtune
    serve` arguments `extra`) and load it; with args.explain_in_flight, load it a second time with an
    explanation always running; with --monitor in `extra`, read /v1/drift after the load."""
    import httpx

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "fairtune", "serve", str(run), "--port", str(port)]
    cmd += ["--max-batch", str(args.max_batch), "--max-wait-ms", str(args.max_wait_ms)]
    cmd += [*serve_args(variant), *extra]
    env = {**os.environ, "TRANSFORMERS_VERBOSITY": "error"}
    env.pop("FAIRTUNE_API_KEY", None)
    if source is not None:
        env["PYTHONPATH"] = str(source / "src")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 300
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"fairtune serve exited with {proc.returncode}: {' '.join(cmd)}")
            try:
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline:
                raise SystemExit("the server did not become ready in 5 minutes")
            time.sleep(0.5)
        # warm-up, not counted
        asyncio.run(load(url, texts, min(200, args.requests), args.concurrency, args.client))
        cpu = cpu_seconds(proc.pid)
        out = asyncio.run(load(url, texts, args.requests, args.concurrency, args.client))
        out["server_cpu_ms_per_request"] = (cpu_seconds(proc.pid) - cpu) * 1000 / args.requests
        if getattr(args, "explain_in_flight", False):
            n_busy = args.explain_requests
            busy = asyncio.run(load_with_explain(url, texts, n_busy, args.concurrency, args.client))
            out["with_explain"] = {
                k: busy[k] for k in ("throughput", "p50_ms", "p99_ms", "errors", "explanations_answered")
            }
        if "--monitor" in extra:
            out["drift"] = drift_snapshot(httpx.get(url + "/v1/drift", timeout=30))
        return out
    finally:
        proc.terminate()
        proc.wait(timeout=120)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) of process `pid` so far (Linux /proc; 0 elsewhere): the
    server's cost per request, which another program's load on the machine changes far less than its
    throughput."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drift_snapshot(r: Any) -> dict[str, Any]:
    """What the monitor did during a load, from its /v1/drift answer (200, or 409 before a first test)."""
    doc = r.json()
    about = doc.get("monitor", doc)
    out = {"status": r.status_code, **about["texts"], "errors": about["errors"], "tests": about["tests"]}
    out["window"] = about["window"]["n"]
    if r.status_code == 200:
        out.update({k: doc["metrics"][k] for k in ("flagged", "mmd_p_value", "label_shift_tv")})
        out["test_seconds"] = doc["seconds"]
    return out


def monitor_compare(run: Path, variant: str, texts: list[str], args: argparse.Namespace) -> None:
    """`variant` served without and with --monitor, interleaved off/on, on/off over args.repeats rounds."""
    from statistics import median

    window, interval = str(args.monitor_window), str(args.monitor_interval)
    monitored = ("--monitor", "--monitor-window", window, "--monitor-interval", interval)
    arms: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
    for i in range(args.repeats):
        for arm in ("off", "on") if i % 2 == 0 else ("on", "off"):
            m = run_variant(run, variant, texts, args, extra=monitored if arm == "on" else ())
            arms[arm].append(m)
            seen = ""
            if "drift" in m:
                d = m["drift"]
                seen = f"; monitor saw {d['seen']} of {d['received']} texts, dropped {d['dropped']}"
            print(
                f"round {i + 1} {arm}: {m['throughput']:.1f} req/s, p99 {m['p99_ms']:.0f} ms, "
                f"{m['server_cpu_ms_per_request']:.1f} server CPU-ms/request{seen}",
                flush=True,
            )
    ratios = [on["throughput"] / off["throughput"] for on, off in zip(arms["on"], arms["off"], strict=True)]
    summary = {
        arm: {
            "throughput_median": median(m["throughput"] for m in ms),
            "p99_ms_median": median(m["p99_ms"] for m in ms),
            "server_cpu_ms_per_request_median": median(m["server_cpu_ms_per_request"] for m in ms),
            "errors": sum(m["errors"] for m in ms),
            "runs": ms,
        }
        for arm, ms in arms.items()
    }
    ratio = summary["on"]["throughput_median"] / summary["off"]["throughput_median"]
    cpu = [m["server_cpu_ms_per_request_median"] for m in (summary["on"], summary["off"])]
    meta = {
        "variant": variant,
        "throughput_ratio_on_vs_off": ratio,
        "ratio_per_round": ratios,
        "ratio_per_round_median": median(ratios),
        "server_cpu_per_request_ratio_on_vs_off": cpu[0] / cpu[1],
        "target": "throughput with --monitor within 5% of without (ratio >= 0.95)",
        "repeats": args.repeats,
        "requests": args.requests,
        "concurrency": args.concurrency,
        "client": args.client,
        "max_batch": args.max_batch,
        "monitor_window": args.monitor_window,
        "monitor_interval": args.monitor_interval,
        "load_average_1m_at_end": os.getloadavg()[0],
    }
    path = write_results("serve_load_monitor", {**summary, "meta": meta}, path=args.results)
    print(f"--monitor / without: {ratio:.3f} (per round {', '.join(f'{r:.3f}' for r in ratios)}) -> {path}")
    print(
        f"server CPU per request, --monitor / without: {meta['server_cpu_per_request_ratio_on_vs_off']:.3f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=5000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--max-batch", type=int, default=32)
    ap.add_argument("--max-wait-ms", type=float, default=5.0)
    ap.add_argument(
        "--client",
        choices=["raw", "httpx"],
        default="raw",
        help="load generator: raw keep-alive HTTP/1.1 connections (default; light on the shared cores) "
        "or httpx",
    )
    ap.add_argument("--results", type=Path, help="default: bench/results/<host-class>/serve_load.json")
    ap.add_argument(
        "--before",
        metavar="REV",
        help="also serve each variant from git revision REV (a worktree under bench/.worktrees/), "
        "alternating with this tree, and report after/before (<host-class>/serve_load_before_after.json)",
    )
    ap.add_argument(
        "--explain-in-flight",
        action="store_true",
        help="load each server a second time with one /v1/explain request of 8 texts always in flight",
    )
    ap.add_argument(
        "--explain-requests",
        type=int,
        default=600,
        help="predict requests of that second load (default 600: a server that lets explanations block "
        "predictions answers only a few per second)",
    )
    ap.add_argument(
        "--variants",
        help=f"comma-separated, fp32 first (default: {','.join(VARIANTS)}, and where the CPU has native "
        f"bf16 also {','.join(BF16_VARIANTS)})",
    )
    ap.add_argument(
        "--monitor-compare",
        action="store_true",
        help="serve the first of --variants without and with --monitor, interleaved, and report the "
        "throughput ratio (<host-class>/serve_load_monitor.json)",
    )
    ap.add_argument("--repeats", type=int, default=3, help="rounds of --monitor-compare (default 3)")
    ap.add_argument("--monitor-window", type=int, default=500, help="--monitor-window of the monitored arm")
    ap.add_argument(
        "--monitor-interval", type=float, default=30.0, help="--monitor-interval of the monitored arm"
    )
    args = ap.parse_args()

    from fairtune.config import load_config
    from fairtune.data import load_task_data
    from fairtune.training import cpu_has_native_bf16

    variants = VARIANTS + (BF16_VARIANTS if cpu_has_native_bf16() else ())
    if args.variants:
        variants = tuple(v.strip() for v in args.variants.split(",") if v.strip())
    elif args.monitor_compare:
        variants = ("fp32",)
    if variants[0] != "fp32":
        raise SystemExit(f"--variants: the first must be fp32, the baseline (got {variants[0]!r})")
    cfg = load_config(CONFIG)
    run = trained_run(CONFIG)
    for variant in variants:
        name = variant.partition("@")[0]
        if name in BUILD and not (run / "compress" / name / "variant.json").is_file():
            for step in BUILD[name]:
                fairtune("compress", str(run.relative_to(ROOT)), *step, "--no-audit")
    texts = load_task_data(cfg.data, cfg.seed).eval.texts
    if args.monitor_compare:
        monitor_compare(run, variants[0], texts, args)
        return
    if args.before:
        before_after(run, variants, texts, args)
        return
    out: dict[str, Any] = {}
    for variant in variants:
        print(
            f"load test: {variant}, {args.requests} requests at concurrency {args.concurrency} ...",
            flush=True,
        )
        out[variant] = run_variant(run, variant, texts, args)
        m = out[variant]
        print(
            f"  {m['throughput']:.1f} req/s, p50 {m['p50_ms']:.0f} ms, p95 {m['p95_ms']:.0f} ms, "
            f"p99 {m['p99_ms']:.0f} ms, errors {m['errors']}, mean batch {m['mean_batch_size']:.1f}",
            flush=True,
        )
    best = max(variants, key=lambda v: out[v]["throughput"])
    for v in variants:
        out[v]["ratio_vs_fp32"] = out[v]["throughput"] / out["fp32"]["throughput"]
    meta = {
        "best_variant": best,
        "best_ratio_vs_fp32": out[best]["throughput"] / out["fp32"]["throughput"],
        "target": "0 errors; best variant's throughput >= 3x fp32 eager",
        "errors": sum(out[v]["errors"] for v in variants),
        "concurrency": args.concurrency,
        "client": args.client,
        "max_batch": args.max_batch,
        "max_wait_ms": args.max_wait_ms,
    }
    path = write_results("serve_load", {**out, "meta": meta}, path=args.results)
    print(f"best: {best} at {meta['best_ratio_vs_fp32']:.2f}x fp32 -> {path}")


def worktree(rev: str) -> Path:
    """A git worktree of `rev` under bench/.worktrees/, made once."""
    path = ROOT / "bench" / ".worktrees" / rev
    if not (path / "src" / "fairtune").is_dir():
        subprocess.check_call(["git", "worktree", "add", "--detach", str(path), rev], cwd=ROOT)
    return path


def before_after(run: Path, variants: tuple[str, ...], texts: list[str], args: argparse.Namespace) -> None:
    """Each variant served by `args.before`'s code and by this tree's, alternating twice, in one run."""
    from statistics import median

    old = worktree(args.before)
    out: dict[str, Any] = {}
    for variant in variants:
        runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
        for turn in ("before", "after", "after", "before"):
            runs[turn].append(run_variant(run, variant, texts, args, old if turn == "before" else None))
            m = runs[turn][-1]
            busy = f"; with explain p99 {m['with_explain']['p99_ms']:.0f} ms" if "with_explain" in m else ""
            print(
                f"{variant} {turn}: {m['throughput']:.1f} req/s, p99 {m['p99_ms']:.0f} ms{busy}", flush=True
            )
        summary: dict[str, Any] = {}
        for side, ms in runs.items():
            summary[side] = {
                "throughput": median(m["throughput"] for m in ms),
                "p99_ms": median(m["p99_ms"] for m in ms),
                "errors": sum(m["errors"] for m in ms),
                "runs": ms,
            }
            if all("with_explain" in m for m in ms):
                summary[side]["p99_ms_with_explain"] = median(m["with_explain"]["p99_ms"] for m in ms)
        summary["throughput_ratio_after_vs_before"] = (
            summary["after"]["throughput"] / summary["before"]["throughput"]
        )
        out[variant] = summary
    path = write_results(
        "serve_load_before_after",
        {"before": args.before, "variants": out, "requests": args.requests, "concurrency": args.concurrency},
    )
    print(f"written to {path}")


if __name__ == "__main__":
    main()
