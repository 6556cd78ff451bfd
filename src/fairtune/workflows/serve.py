"""`fairtune serve RUN_DIR [--variant NAME] [--host 127.0.0.1] [--port 8000] [--monitor]`: the run's model (or
one of its compressed variants) behind the HTTP API of `fairtune.serve`, under uvicorn; with --monitor, a
drift window over the served texts (`fairtune.monitor.ServingMonitor`) against the run's reference."""

from __future__ import annotations

import errno
import logging
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fairtune._rundir import RunDir
from fairtune._stages import register_stage
from fairtune.errors import (
    API_KEY_EMPTY,
    SERVE_BAD_LIMIT,
    SERVE_MONITOR_NO_DATA,
    SERVE_MONITOR_VARIANT,
    SERVE_MONITOR_WINDOW,
    SERVE_PORT_IN_USE,
    SERVE_VARIANT_REGRESSES,
    ConfigError,
    DataError,
    FairtuneError,
)

if TYPE_CHECKING:
    from fairtune.serve import ServeSettings

API_KEY_ENV = "FAIRTUNE_API_KEY"


def check_variant_gates(run: RunDir, cfg: Any, variant: str) -> dict[str, Any]:
    """The variant's gates; a variant that fails a gate the fp32 model passes is refused."""
    from fairtune.report import describe_failure, variant_gates

    gates = variant_gates(cfg, run.root, variant)
    failed = [g for g in gates["gates"] if g["metric"] in gates["regressions"]]
    if failed:
        raise FairtuneError(
            SERVE_VARIANT_REGRESSES.format(
                variant=variant, failures="; ".join(describe_failure(g) for g in failed), run=run.root
            )
        )
    return gates


def load_served(
    run_dir: str | Path,
    variant: str | None,
    precision: str | None = None,
    device: str | None = None,
    allow_gate_regressions: bool = False,
) -> tuple[Any, dict[str, Any], str]:
    """(classifier, model info for responses, default explanation method). `precision` (auto, fp32 or
    bf16) is how a PyTorch float model runs; unset, the run's train.precision. `device` (auto, cpu,
    cuda): where the fp32 model runs; unset, the run's model.device. Compressed variants run on the CPU."""
    from fairtune._version import __version__
    from fairtune.compress import load_variant, variant_dir
    from fairtune.models import TorchClassifier

    run = RunDir(Path(run_dir))
    run.require_model()
    model_dir = run.current_model  # a model promoted by `fairtune update` (current.json), else model/
    cfg = run.load_config()
    kw = {"batch_size": cfg.train.eval_batch_size, "max_length": cfg.data.max_length}
    precision = precision or cfg.train.precision
    if variant:
        vdir = variant_dir(run.root, variant)
        if not allow_gate_regressions:
            check_variant_gates(run, cfg, variant)
        clf = load_variant(vdir, precision=precision, **kw)
    else:
        clf = TorchClassifier.from_dir(
            model_dir, precision=precision, device=device or cfg.model.device, **kw
        )
    # Integrated gradients need float torch weights; quantized and ONNX models get occlusion.
    differentiable = isinstance(clf, TorchClassifier) and all(
        p.dtype.is_floating_point and p.dtype != _bf16() for p in clf.model.parameters()
    )
    differentiable = differentiable and not any(
        "quantized" in type(m).__module__ for m in clf.model.modules()
    )
    info = {"name": cfg.name, "run": str(run.root), "variant": variant or "fp32", "labels": clf.labels}
    if not variant and run.current.is_file():
        info["promoted"] = str(run.current_model.relative_to(run.root))
    if isinstance(clf, TorchClassifier):
        info["precision"] = clf.precision  # what autocast runs: fp32 weights may run in bf16
        info["device"] = clf.device
    info["fairtune_version"] = __version__
    return clf, info, "ig" if differentiable else "occlusion"


def _bf16() -> Any:
    import torch

    return torch.bfloat16


def check_port_free(host: str, port: int) -> None:
    """Refuse a port that another process holds, before loading anything heavy."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                raise FairtuneError(
                    SERVE_PORT_IN_USE.format(host=host, port=port, other=port + 1)
                    if exc.errno == errno.EADDRINUSE
                    else f"--port: {port} needs privileges here ({exc.strerror}). Use a port above 1023."
                ) from None
            raise FairtuneError(
                f"--host: cannot bind {host}:{port} ({exc.strerror}). Check the address."
            ) from None


def check_limits(**limits: float) -> None:
    for name, value in limits.items():
        if value is None or value <= 0:
            raise FairtuneError(
                SERVE_BAD_LIMIT.format(
                    field=f"--{name.replace('_', '-')}",
                    reason="must be a positive number",
                    value=value,
                    fix="Pass a number above 0.",
                )
            )


def build_settings(
    *,
    info: dict[str, Any],
    explain_method: str,
    api_key_env: str = API_KEY_ENV,
    log_texts: bool = False,
    **limits: Any,
) -> ServeSettings:
    from fairtune.serve import ServeSettings

    check_limits(**limits)
    key = os.environ.get(api_key_env)
    if key is not None and not key.strip():
        raise ConfigError(API_KEY_EMPTY.format(var=api_key_env))
    key = key or None
    return ServeSettings(
        api_key=key, log_texts=log_texts, explain_method=explain_method, model_info=info, **limits
    )


def check_monitor(run_dir: str | Path, variant: str | None, window: int, interval: float) -> None:
    """Refuse `--monitor` where it cannot work, before anything heavy loads: a compressed variant, a window
    smaller than the drift test needs, a run with neither its data nor a cached reference."""
    from fairtune.monitor._reference import REFERENCE_FILE, missing_reference_data

    if variant:
        raise ConfigError(SERVE_MONITOR_VARIANT.format(variant=variant))
    check_limits(monitor_window=window, monitor_interval=interval)
    run = RunDir(Path(run_dir))
    cfg = run.load_config()
    if window < cfg.monitor.min_window:
        raise ConfigError(
            SERVE_MONITOR_WINDOW.format(value=window, min_window=cfg.monitor.min_window, config=run.config)
        )
    cache = run.root / "monitor" / REFERENCE_FILE
    missing = missing_reference_data(cfg, run.current_model, cache)
    if missing:
        raise DataError(
            SERVE_MONITOR_NO_DATA.format(
                run=run.root,
                missing=", ".join(missing),
                cache=cache,
                model=run.current_model,
                config=run.config,
            )
        )


def build_monitor(
    run_dir: str | Path, clf: Any, info: dict[str, Any], *, window: int, interval: float
) -> Any:
    """The drift monitor of `fairtune serve --monitor`, with the run's `monitor:` settings. Its reference
    is `fairtune monitor`'s, profiled by the served model (or read from RUN_DIR/monitor/reference.npz,
    which both share); after a hot reload, the reloaded model's."""
    from fairtune.monitor import REFERENCE_FILE, Basis, ServingMonitor, WatchSettings

    run = RunDir(Path(run_dir))
    cfg = run.load_config()
    m = cfg.monitor
    settings = WatchSettings(
        window=window,
        interval=interval,
        min_window=m.min_window,
        alpha=m.alpha,
        permutations=m.permutations,
        seed=m.seed,
    )
    cache = run.root / "monitor" / REFERENCE_FILE

    def basis(model: Any, model_info: dict[str, Any]) -> Basis:
        model_dir = run.root / model_info.get("promoted", "model")  # the folder load_served loaded
        return Basis.load(cfg, model_dir, model, cache)

    return ServingMonitor(basis(clf, info), settings, rebase=basis)


def text_redactor() -> Any:
    """Presidio redaction for opted-in text logs (loaded only then)."""
    from fairtune.data._pii import PiiRedactor

    redactor = PiiRedactor()
    return lambda texts: redactor.redact(texts).texts


def serve(
    run_dir: str | Path,
    *,
    variant: str | None = None,
    precision: str | None = None,
    device: str | None = None,
    allow_gate_regressions: bool = False,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    api_key_env: str = API_KEY_ENV,
    log_texts: bool = False,
    graceful_timeout: int = 30,
    head_timeout: float = 10.0,
    max_head_bytes: int = 65_536,
    max_connections: int = 1000,
    monitor_window: int | None = None,
    monitor_interval: float = 30.0,
    **limits: Any,
) -> None:
    """Serve the run's model; with `monitor_window`, watch a rolling window of that many served texts for
    drift (`GET /v1/drift`, `fairtune_drift` gauges), tested at most every `monitor_interval` seconds."""
    if monitor_window is not None:
        check_monitor(run_dir, variant, monitor_window, monitor_interval)
    import uvicorn

    from fairtune.serve import create_app
    from fairtune.serve._protocol import server_options
    from fairtune.serve._tls import tls_options

    check_limits(head_timeout=head_timeout, max_head_bytes=max_head_bytes, max_connections=max_connections)
    tls = tls_options(ssl_certfile, ssl_keyfile)
    check_port_free(host, port)
    clf, info, method = load_served(run_dir, variant, precision, device, allow_gate_regressions)
    settings = build_settings(
        info=info, explain_method=method, api_key_env=api_key_env, log_texts=log_texts, **limits
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    monitor = None
    if monitor_window is not None:
        monitor = build_monitor(run_dir, clf, info, window=monitor_window, interval=monitor_interval)
        ref = monitor.status()["reference"]
        logging.getLogger("fairtune.serve").info(
            "monitor: window of %d texts against %d reference texts (%s, %s)",
            monitor_window,
            ref["n"],
            ref["source"],
            "cached" if ref["cached"] else "profiled now and cached",
        )

    def reload() -> tuple[Any, dict[str, Any]]:  # the run's model as it is on disk now
        new, new_info, _ = load_served(run_dir, variant, precision, device, allow_gate_regressions)
        return new, new_info

    pointer = None if variant else RunDir(Path(run_dir)).current  # follow `fairtune update`'s promotions
    app = create_app(
        clf,
        settings,
        redact=text_redactor() if log_texts else None,
        reload=reload,
        watch=pointer,
        monitor=monitor,
    )
    logging.getLogger("fairtune.serve").info(
        "serving %s (%s%s) on %s://%s:%d; API key %s",
        info["name"],
        info["variant"],
        f", {info['precision']}" if "precision" in info else "",
        "https" if tls else "http",
        host,
        port,
        f"required (from ${api_key_env})" if settings.api_key else "off",
    )
    # access_log off: uvicorn's access log would print request lines; fairtune logs its own, without texts.
    uvicorn.run(
        app,
        host=host,
        port=port,
        access_log=False,
        log_level="info",
        timeout_graceful_shutdown=graceful_timeout,
        **server_options(head_timeout, max_head_bytes, max_connections),
        **tls,
    )


register_stage("serve", serve)
