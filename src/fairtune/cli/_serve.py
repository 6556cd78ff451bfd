"""fairtune serve RUN_DIR [--variant int8] [--host 127.0.0.1] [--port 8000] [--monitor]"""

from __future__ import annotations

import argparse
import os


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a trained run directory, e.g. runs/sst2-minilm")
    p.add_argument("--variant", help="serve a compressed variant from RUN_DIR/compress/ (e.g. onnx-int8)")
    p.add_argument(
        "--precision",
        choices=["auto", "fp32", "bf16"],
        help="how a PyTorch float model runs: bf16 autocast, fp32, or auto (bf16 where the CPU or GPU "
        "has it natively). Default: the run's train.precision",
    )
    p.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        help="where the model runs: auto (a GPU when torch sees one), cpu or cuda. Default: the run's "
        "model.device. Compressed variants run on the CPU",
    )
    p.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)"
    )
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--max-batch", type=int, default=32, help="most texts per model call (default 32)")
    p.add_argument(
        "--max-wait-ms", type=float, default=5.0, help="longest wait to fill a batch, in ms (default 5)"
    )
    p.add_argument("--max-texts", type=int, default=64, help="most texts per request (default 64)")
    p.add_argument("--max-chars", type=int, default=10_000, help="most characters per text (default 10000)")
    p.add_argument(
        "--max-body-bytes", type=int, default=1_000_000, help="largest request body (default 1000000)"
    )
    p.add_argument(
        "--body-timeout",
        type=float,
        default=30.0,
        help="seconds a request body may take to arrive (default 30)",
    )
    p.add_argument(
        "--head-timeout",
        type=float,
        default=10.0,
        help="seconds a request's headers may take to arrive, on a new or kept-alive connection (default 10)",
    )
    p.add_argument(
        "--max-head-bytes", type=int, default=65_536, help="largest request line plus headers (default 65536)"
    )
    p.add_argument(
        "--max-connections",
        type=int,
        default=1000,
        help="connections and requests at once; more get 503 (default 1000)",
    )
    p.add_argument(
        "--max-explain-texts", type=int, default=8, help="most texts per /v1/explain request (default 8)"
    )
    p.add_argument(
        "--max-explain-queue",
        type=int,
        default=2,
        help="explanation requests running or waiting at once; more get 429 with Retry-After (default 2)",
    )
    p.add_argument(
        "--explain-chunk",
        type=int,
        default=8,
        help="rows per model call of an explanation; a prediction batch waits for at most one (default 8)",
    )
    p.add_argument(
        "--allow-gate-regressions",
        action="store_true",
        help="serve a --variant even when it fails a gate that the fp32 model passes (refused by default)",
    )
    p.add_argument("--ssl-certfile", metavar="PEM", help="serve HTTPS with this certificate (chain), PEM")
    p.add_argument("--ssl-keyfile", metavar="PEM", help="the certificate's private key, PEM")
    p.add_argument(
        "--api-key-env",
        default="FAIRTUNE_API_KEY",
        help="environment variable holding the API key; when it is set, /v1/* and /metrics need it",
    )
    p.add_argument(
        "--log-texts",
        action="store_true",
        help="log request texts, PII-redacted with Presidio (off by default: logs never hold texts)",
    )
    p.add_argument(
        "--monitor",
        action="store_true",
        help="watch the served texts for drift: a rolling window of their embeddings and predictions (never "
        "the texts) tested against the run's reference as `fairtune monitor` does; GET /v1/drift and "
        "fairtune_drift gauges on /metrics",
    )
    p.add_argument(
        "--monitor-window",
        type=int,
        default=500,
        metavar="N",
        help="with --monitor: the newest N served texts make the window (default 500; at least the run's "
        "monitor.min_window)",
    )
    p.add_argument(
        "--monitor-interval",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="with --monitor: at most one drift test per interval, when new texts came (default 30)",
    )


def run(args: argparse.Namespace) -> int:
    # Between batches, idle inference threads sleep instead of spinning, which leaves the cores to the
    # HTTP side: on 2 cores, 9-19% more requests/s for every variant (bench/serve_load.py). Set before
    # torch loads the OpenMP runtime, which reads it once; ONNX Runtime sessions follow it too.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from fairtune.cli._common import require_run

    require_run(args.run_dir)
    from fairtune.workflows.serve import serve

    serve(
        args.run_dir,
        variant=args.variant,
        precision=args.precision,
        device=args.device,
        allow_gate_regressions=args.allow_gate_regressions,
        ssl_certfile=args.ssl_certfile,
        ssl_keyfile=args.ssl_keyfile,
        host=args.host,
        port=args.port,
        api_key_env=args.api_key_env,
        log_texts=args.log_texts,
        max_batch=args.max_batch,
        max_wait_ms=args.max_wait_ms,
        max_texts=args.max_texts,
        max_chars=args.max_chars,
        max_body_bytes=args.max_body_bytes,
        max_explain_texts=args.max_explain_texts,
        max_explain_queue=args.max_explain_queue,
        explain_chunk=args.explain_chunk,
        body_timeout=args.body_timeout,
        head_timeout=args.head_timeout,
        max_head_bytes=args.max_head_bytes,
        max_connections=args.max_connections,
        monitor_window=args.monitor_window if args.monitor else None,
        monitor_interval=args.monitor_interval,
    )
    return 0
