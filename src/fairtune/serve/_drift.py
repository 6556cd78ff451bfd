"""`GET /v1/drift` and the drift gauges on `/metrics`, both read from a `ServingMonitor`'s snapshot (the
monitor thread computes; these only read)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

SCHEMA = "fairtune/serve-drift/v1"
MONITOR_OFF = (
    "drift monitoring is off on this server: start it with `fairtune serve RUN_DIR --monitor` to keep a "
    "rolling window of served texts' embeddings (never the texts) and test it for drift."
)
WINDOW_SMALL = (
    "{n} served text(s) in the window so far; the drift test needs monitor.min_window ({need}). Send more "
    "/v1/predict traffic and ask again."
)
PENDING = "the first drift test over the {n} texts in the window is running; ask again in a moment."
PAUSED = "drift monitoring is paused: {reason}. Requests are served as usual."


def drift_answer(monitor: Any, model_info: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body) for GET /v1/drift: 200 with the latest drift result; 404 when monitoring
    is off; 409 while the window is smaller than the test needs (or its first test runs); 503 paused."""
    if monitor is None:
        return 404, {"error": {"code": "monitor_off", "message": MONITOR_OFF}}
    st = monitor.status()
    window, counts = st["window"], st["counts"]
    about = {
        "schema": SCHEMA,
        "model": model_info,
        "window": window,
        "texts": {k: counts[k] for k in ("received", "seen", "dropped")},
        "errors": counts["errors"],
        "last_error": st["last_error"],
        "tests": counts["tests"],
        "since": st["since"],
        "reference": st["reference"],
        "settings": st["settings"],
    }
    latest = st["latest"]
    if st["paused"]:
        return 503, _refusal("monitor_paused", PAUSED.format(reason=st["paused"]), about)
    if latest is None and window["n"] < window["min"]:
        message = WINDOW_SMALL.format(n=window["n"], need=window["min"])
        return 409, _refusal("window_too_small", message, about, n=window["n"], min_window=window["min"])
    if latest is None:
        return 409, _refusal("drift_pending", PENDING.format(n=window["n"]), about)
    return 200, {**about, **latest}


def _refusal(code: str, message: str, about: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}, "monitor": about}


class DriftCollector:
    """Prometheus metrics of the monitor, read at each scrape: `fairtune_drift{metric=...}` (the latest
    test's drift.* metrics), when it ran, the window's size and what happened to the served texts."""

    def __init__(self, monitor: Any) -> None:
        self.monitor = monitor

    def describe(self) -> list[Any]:
        return []  # names are fixed and distinct from the app's others; skip prometheus_client's probe

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        st = self.monitor.status()
        counts = st["counts"]
        texts = CounterMetricFamily(
            "fairtune_monitor_texts",
            "Served texts offered to the drift monitor, by outcome (received; seen: measured into the "
            "window; dropped: the monitor's queue was full)",
            labels=["outcome"],
        )
        for outcome in ("received", "seen", "dropped"):
            texts.add_metric([outcome], counts[outcome])
        yield texts
        yield CounterMetricFamily(
            "fairtune_monitor_errors",
            "Failures inside monitoring (requests unaffected)",
            value=counts["errors"],
        )
        yield CounterMetricFamily(
            "fairtune_drift_tests", "Drift tests run on the window", value=counts["tests"]
        )
        yield GaugeMetricFamily(
            "fairtune_monitor_window_texts", "Texts in the window", value=st["window"]["n"]
        )
        yield GaugeMetricFamily(
            "fairtune_monitor_paused", "1 while monitoring is paused", value=float(bool(st["paused"]))
        )
        latest = st["latest"]
        if latest is None:
            return
        drift = GaugeMetricFamily(
            "fairtune_drift",
            "The latest drift test of the serving window against the run's reference, by drift.* metric",
            labels=["metric"],
        )
        for name, value in sorted(latest["metrics"].items()):
            drift.add_metric([name], float(value))
        yield drift
        yield GaugeMetricFamily(
            "fairtune_drift_last_test_timestamp_seconds",
            "When the latest drift test finished (Unix time)",
            value=latest["computed_unix"],
        )
