"""The HTTP service: a FastAPI app over any `Classifier`, with micro-batching, limits, an optional API key,
Prometheus metrics and a small page for people.

Every model call runs on one worker thread, so the event loop stays free and the model is never entered
by two requests at once. Concurrent /v1/predict requests are gathered into one batch of at most
`max_batch` texts, waiting at most `max_wait_ms` for company.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request  # module level: FastAPI resolves the handlers' annotations here

from fairtune.serve._drift import DriftCollector, drift_answer
from fairtune.serve._reload import ModelSwapper
from fairtune.serve._turns import ModelTurns, explanation_copy

LOG = logging.getLogger("fairtune.serve")


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    texts: list[str] = Field(..., description="Texts to classify.")


class ExplainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    texts: list[str] = Field(..., description="Texts to explain.")
    method: str | None = Field(None, description="ig (torch fp32 models), occlusion or shap.")


@dataclass(frozen=True)
class ServeSettings:
    max_batch: int = 32
    max_wait_ms: float = 5.0
    max_texts: int = 64
    max_chars: int = 10_000
    max_body_bytes: int = 1_000_000
    max_explain_texts: int = 8
    max_explain_queue: int = 2
    #: rows per model call of an explanation; predictions wait for at most one such call
    explain_chunk: int = 8
    body_timeout: float = 30.0
    api_key: str | None = None
    log_texts: bool = False
    explain_method: str = "occlusion"
    model_info: dict[str, Any] = field(default_factory=dict)


def error(status: int, code: str, message: str, **extra: Any) -> Any:
    from fastapi.responses import JSONResponse

    return JSONResponse({"error": {"code": code, "message": message, **extra}}, status_code=status)


JSON_HINT = ' Send JSON like {"texts": ["a text"]}.'
#: the service's routes: metric labels take these values only, any other path counts as "other"
ROUTES = frozenset(
    {
        "/v1/predict",
        "/v1/explain",
        "/v1/reload",
        "/v1/drift",
        "/metrics",
        "/healthz",
        "/readyz",
        "/",
        "/docs",
        "/openapi.json",
    }
)


def printable(path: str, limit: int = 200) -> str:
    """A request path safe for a one-line log: control characters escaped, long paths cut."""
    out = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in path)
    return out if len(out) <= limit else out[:limit] + "..."


def invalid_unicode_at(text: str) -> int | None:
    """The index of the first character that UTF-8 cannot encode (a lone surrogate), or None."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


class MicroBatcher:
    """Gathers texts from concurrent requests into batches for one model call."""

    def __init__(
        self,
        predict: Callable[[list[str]], np.ndarray],
        executor: ThreadPoolExecutor,
        *,
        max_batch: int,
        max_wait_ms: float,
        on_batch: Callable[[int], None] = lambda n: None,
        turns: ModelTurns | None = None,
    ) -> None:
        self.predict, self.executor = predict, executor
        self.turns = turns or ModelTurns()
        self.max_batch, self.max_wait = max_batch, max_wait_ms / 1000
        self.on_batch = on_batch
        self.queue: asyncio.Queue[tuple[list[str], asyncio.Future[np.ndarray]]] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def submit(self, texts: list[str]) -> np.ndarray:
        fut: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        await self.queue.put((texts, fut))
        return await fut

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            items = [await self.queue.get()]
            n = len(items[0][0])
            deadline = loop.time() + self.max_wait
            while n < self.max_batch:
                timeout = deadline - loop.time()
                if timeout <= 0:
                    break
                try:
                    nxt = await asyncio.wait_for(self.queue.get(), timeout)
                except TimeoutError:
                    break
                items.append(nxt)
                n += len(nxt[0])
            await self._answer(items)

    def _capped(self, texts: list[str]) -> np.ndarray:
        """The model over `texts` in calls of at most max_batch texts (a large request is split too)."""
        parts = []
        for start in range(0, len(texts), self.max_batch):
            chunk = texts[start : start + self.max_batch]
            self.on_batch(len(chunk))
            with self.turns.predict():
                parts.append(self.predict(chunk))
        return np.concatenate(parts)

    async def _answer(self, items: list[tuple[list[str], asyncio.Future[np.ndarray]]]) -> None:
        """One model call for all the requests; if it fails, one call per request, so that a text that
        breaks the model fails its own request only."""
        loop = asyncio.get_running_loop()
        texts = [t for group, _ in items for t in group]
        try:
            probs = await loop.run_in_executor(self.executor, self._capped, texts)
        except Exception as exc:
            if len(items) == 1:
                if not items[0][1].done():
                    items[0][1].set_exception(exc)
                return
            for item in items:
                await self._answer([item])
            return
        at = 0
        for group, fut in items:
            if not fut.done():
                fut.set_result(probs[at : at + len(group)])
            at += len(group)


class Metrics:
    """Prometheus metrics in a registry of their own (one per app)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter(
            "fairtune_requests", "HTTP requests", ["endpoint", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "fairtune_request_latency_seconds",
            "Request latency",
            ["endpoint"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.batch = Histogram(
            "fairtune_batch_size",
            "Texts per model call",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
            registry=self.registry,
        )
        self.errors = Counter(
            "fairtune_errors", "Error responses", ["endpoint", "code"], registry=self.registry
        )
        self.texts = Counter("fairtune_texts", "Texts classified", registry=self.registry)
        self.reloads = Counter("fairtune_reloads", "Models swapped in by a reload", registry=self.registry)
        self.predict_waits = Histogram(
            "fairtune_predict_wait_explain_chunks",
            "Explanation chunks run while a prediction batch waited for the model (at most 1 by design)",
            buckets=(0, 1, 2, 4, 8, 16),
            registry=self.registry,
        )


def _page() -> str:
    return resources.files("fairtune.serve").joinpath("page.html").read_text(encoding="utf-8")


def create_app(
    clf: Any,
    settings: ServeSettings,
    *,
    redact: Callable[[list[str]], list[str]] | None = None,
    reload: Callable[[], tuple[Any, dict[str, Any]]] | None = None,
    watch: Path | None = None,
    monitor: Any = None,
) -> Any:
    """The FastAPI app serving `clf`. `redact` is applied to texts before they are logged (log_texts).
    `reload` loads the model again (a newly promoted one) with its model info: `POST /v1/reload`,
    SIGHUP and a change of the file `watch` (the run's current.json) swap it in without dropping a
    request (`_reload.py`). `monitor` (a `fairtune.monitor.ServingMonitor`) taps every prediction batch
    for its drift window: `GET /v1/drift` and the `fairtune_drift` gauges (`_drift.py`)."""
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse, Response
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
    from starlette.datastructures import Headers
    from starlette.exceptions import HTTPException as StarletteHTTPException
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from fairtune.audits.explain import ExplainSettings
    from fairtune.audits.explain import explain as explain_texts
    from fairtune.errors import FairtuneError

    s = settings
    metrics = Metrics()
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fairtune-model")
    explainer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fairtune-explain")
    state: dict[str, Any] = {"ready": False, "explaining": 0, "explain_seconds": 1.0, "clf": clf}
    turns = ModelTurns(on_predict_wait=metrics.predict_waits.observe)
    explain_settings = ExplainSettings(ig_internal_batch_size=s.explain_chunk)

    def explain_one(text: str, method: str) -> Any:
        """In the explanation thread: one text, chunk by chunk, on the thread's own copy of the model."""
        if "explain_clf" not in state:
            state["explain_clf"] = explanation_copy(state["clf"])
        try:
            (e,) = explain_texts(
                state["explain_clf"], [text], method, settings=explain_settings, turn=turns.explain_turn
            )
        finally:
            turns.explain_done()
        return e

    def predict(texts: list[str]) -> np.ndarray:
        if monitor is not None:
            return monitor.tap(state["clf"], texts)  # type: ignore[no-any-return]
        return state["clf"].predict_proba(texts)  # type: ignore[no-any-return]

    def warm_up() -> None:  # not a served text: the drift window never sees it
        state["clf"].predict_proba(["warm up"])

    prepare = monitor.prepare if monitor is not None else None
    swapper = ModelSwapper(
        state, executor, s.model_info, reload, on_swap=metrics.reloads.inc, prepare=prepare
    )
    if monitor is not None:
        metrics.registry.register(DriftCollector(monitor))

    async def lifespan(app: Any) -> Any:
        batcher = MicroBatcher(
            predict,
            executor,
            max_batch=s.max_batch,
            max_wait_ms=s.max_wait_ms,
            on_batch=metrics.batch.observe,
            turns=turns,
        )
        batcher.start()
        state["batcher"] = batcher
        swapper.on_sighup()
        if watch is not None:
            swapper.watch(watch)
        await asyncio.get_running_loop().run_in_executor(executor, warm_up)
        if monitor is not None:
            monitor.start()
        state["ready"] = True
        LOG.info("ready: %s", s.model_info.get("name", "model"))
        yield
        state["ready"] = False
        await batcher.stop()
        if monitor is not None:
            monitor.stop()
        executor.shutdown(wait=True)
        explainer.shutdown(wait=True)
        await swapper.stop()

    from fastapi_offline import FastAPIOffline

    app = FastAPIOffline(  # /docs serves its Swagger UI files itself: no CDN, so it works offline
        redoc_url=None,
        title="fairtune",
        version=str(s.model_info.get("fairtune_version", "")),
        description="Text classification with the evidence from fairtune's audits.",
        lifespan=lifespan,
    )

    def authorised(headers: Headers) -> bool:
        if not s.api_key:
            return True
        given = headers.get("x-api-key") or ""
        auth = headers.get("authorization") or ""
        if auth.lower().startswith("bearer "):
            given = given or auth[7:]
        # header values arrive decoded as latin-1: their bytes are what the client sent (UTF-8 for a
        # non-ASCII key), compared in constant time with the key's UTF-8 bytes
        return hmac.compare_digest(given.encode("latin-1", "replace"), s.api_key.encode("utf-8"))

    def check_texts(texts: Sequence[str], max_texts: int) -> Any:
        if not texts:
            return error(422, "no_texts", "texts: give at least one text.", field="texts")
        if len(texts) > max_texts:
            return error(
                413,
                "too_many_texts",
                f"texts: {len(texts)} texts in one request; the limit is {max_texts}. Split the request.",
                limit="max_texts",
                max=max_texts,
            )
        for i, t in enumerate(texts):
            bad_at = invalid_unicode_at(t)
            if bad_at is not None:
                return error(
                    422,
                    "invalid_text",
                    f"texts[{i}]: character {bad_at} is a lone surrogate ({t[bad_at]!a}), which is not "
                    "valid Unicode. Send the text as valid UTF-8.",
                    field=f"texts[{i}]",
                )
            if len(t) > s.max_chars:
                return error(
                    422,
                    "text_too_long",
                    f"texts[{i}]: {len(t)} characters; the limit is {s.max_chars}. Shorten or split it.",
                    limit="max_chars",
                    max=s.max_chars,
                    field=f"texts[{i}]",
                )
        return None

    def guarded(path: str) -> bool:
        """Paths behind the API key, whose bodies are read and size-checked before the app sees them."""
        return path.startswith("/v1/") or path == "/metrics"

    def reject(headers: Headers, path: str) -> Any:
        """The error response for a request refused before its body is read, or None."""
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > s.max_body_bytes:
            return error(
                413,
                "body_too_large",
                f"request body is {length} bytes; the limit is {s.max_body_bytes}.",
                limit="max_body_bytes",
                max=s.max_body_bytes,
            )
        if guarded(path) and not authorised(headers):
            return error(
                401,
                "unauthorised",
                "missing or wrong API key: send it as the X-API-Key header or Authorization: Bearer KEY.",
            )
        return None

    async def read_body(receive: Receive) -> bytes | None:
        """The whole request body, or None once it passes max_body_bytes (chunked bodies carry no
        Content-Length)."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > s.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def replay(body: bytes, receive: Receive) -> Receive:
        sent = False

        async def again() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return again

    class Guard:
        """Body limit, API key, metrics and a request log without texts. Plain ASGI: Starlette's
        `@app.middleware("http")` runs each request through extra tasks and streams, which cost more CPU
        per request than the rest of the HTTP side (py-spy, bench/serve_load.py)."""

        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await self.app(scope, receive, send)
                return
            t0 = time.perf_counter()
            endpoint = scope["path"]
            status = 500

            async def send_status(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                refused = reject(Headers(scope=scope), endpoint)
                if refused is None and guarded(endpoint):
                    try:  # asyncio.timeout, not wait_for: no extra task per request
                        async with asyncio.timeout(s.body_timeout):
                            body = await read_body(receive)
                    except TimeoutError:
                        body = b""
                        refused = error(
                            408,
                            "body_timeout",
                            f"the request body did not arrive within {s.body_timeout:g} s.",
                            limit="body_timeout",
                            max=s.body_timeout,
                        )
                    if refused is None and body is None:
                        refused = error(
                            413,
                            "body_too_large",
                            f"request body is over {s.max_body_bytes} bytes.",
                            limit="max_body_bytes",
                            max=s.max_body_bytes,
                        )
                    elif body is not None:
                        receive = replay(body, receive)
                if refused is not None:
                    await refused(scope, receive, send_status)
                else:
                    await self.app(scope, receive, send_status)
            finally:
                elapsed = time.perf_counter() - t0
                # metric labels come from a fixed set, never from the raw path (unbounded cardinality)
                route = endpoint if endpoint in ROUTES else "other"
                if route != "other":
                    metrics.requests.labels(route, str(status)).inc()
                    metrics.latency.labels(route).observe(elapsed)
                if status >= 400:
                    metrics.errors.labels(route, str(status)).inc()
                LOG.info("%s %s %d %.1fms", scope["method"], printable(endpoint), status, elapsed * 1000)

    app.add_middleware(Guard)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        where = f"{request.method} {printable(request.url.path, 100)}"
        if exc.status_code == 400:  # FastAPI could not parse the body: bad UTF-8, too deep, huge numbers
            return error(  # type: ignore[no-any-return]
                400,
                "malformed_json",
                f"{where}: the body is not JSON that can be read (invalid UTF-8, nesting too deep or a "
                "number too large)." + JSON_HINT,
            )
        codes = {404: "not_found", 405: "method_not_allowed"}
        return error(  # type: ignore[no-any-return]
            exc.status_code, codes.get(exc.status_code, "http_error"), f"{where}: {exc.detail}."
        )

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> JSONResponse:
        LOG.error("%s %s failed: %s", request.method, printable(request.url.path), printable(repr(exc)))
        return error(  # type: ignore[no-any-return]
            500, "internal_error", "the model failed on this request; the server's log has the details."
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for e in exc.errors():
            loc = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
            problems.append(f"{loc}: {e.get('msg', 'invalid')}")
        kind = (
            "malformed_json"
            if any(e.get("type") == "json_invalid" for e in exc.errors())
            else "invalid_request"
        )
        message = "; ".join(p.rstrip(".") for p in problems) + "." + JSON_HINT
        return error(422, kind, message, problems=problems)  # type: ignore[no-any-return]

    def log_texts(texts: list[str]) -> None:
        if s.log_texts:
            shown = redact(texts) if redact is not None else ["<redaction unavailable>"] * len(texts)
            LOG.info("texts: %s", json.dumps(shown, ensure_ascii=False))

    @app.post("/v1/predict", summary="Labels and probabilities for texts")
    async def v1_predict(req: PredictRequest) -> Any:
        bad = check_texts(req.texts, s.max_texts)
        if bad is not None:
            return bad
        log_texts(req.texts)
        probs = await state["batcher"].submit(list(req.texts))
        labels = state["clf"].labels  # a reload keeps the label set (`ModelSwapper`)
        metrics.texts.inc(len(req.texts))
        return {
            "model": s.model_info,
            "predictions": [
                {
                    "label": labels[int(p.argmax())],
                    "probability": float(p.max()),
                    "probabilities": {name: float(v) for name, v in zip(labels, p, strict=True)},
                }
                for p in probs
            ],
        }

    @app.post("/v1/explain", summary="Word attributions for texts")
    async def v1_explain(req: ExplainRequest, request: Request) -> Any:
        bad = check_texts(req.texts, s.max_explain_texts)
        if bad is not None:
            return bad
        if state["explaining"] >= s.max_explain_queue:
            wait = max(1, round(state["explain_seconds"] * state["explaining"]))
            busy = error(
                429,
                "explain_busy",
                f"{state['explaining']} explanation request(s) are already running or waiting (the limit is "
                f"{s.max_explain_queue}); try again in about {wait} s.",
                limit="max_explain_queue",
                max=s.max_explain_queue,
            )
            busy.headers["Retry-After"] = str(wait)
            return busy
        method = req.method or s.explain_method
        log_texts(req.texts)
        state["explaining"] += 1
        try:
            out = await explain_in_steps(list(req.texts), method, request)
        except FairtuneError as exc:
            return error(422, "cannot_explain", exc.render())
        finally:
            state["explaining"] -= 1
        if out is None:  # the client went away: the rest was never computed
            return error(499, "client_closed", "the client closed the connection; the explanation stopped.")
        return {"model": s.model_info, "method": method, "explanations": out}

    async def explain_in_steps(texts: list[str], method: str, request: Request) -> list[Any] | None:
        """One text at a time, in chunks that take turns with prediction batches (`ModelTurns`); stops
        before the next text as soon as the client has gone away."""
        loop = asyncio.get_running_loop()
        out: list[Any] = []
        for text in texts:
            if await request.is_disconnected():
                LOG.info(
                    "explain: client gone; %d of %d texts left unexplained", len(texts) - len(out), len(texts)
                )
                return None
            t0 = time.perf_counter()
            e = await loop.run_in_executor(explainer, explain_one, text, method)
            state["explain_seconds"] = 0.8 * state["explain_seconds"] + 0.2 * (time.perf_counter() - t0)
            out.append(e.to_json())
        return out

    @app.post("/v1/reload", summary="Load the model again and swap it in without dropping a request")
    async def v1_reload() -> Any:
        try:
            info = await swapper.reload()
        except FairtuneError as exc:
            return error(409, "reload_refused", exc.render())
        return {"status": "reloaded", "model": info}

    @app.get("/v1/drift", summary="The latest drift test of the served texts' window (with --monitor)")
    async def v1_drift() -> Any:
        status, body = drift_answer(monitor, s.model_info)
        return JSONResponse(body, status_code=status)

    @app.get("/healthz", summary="Liveness")
    async def healthz() -> Any:
        return {"status": "ok"}

    @app.get("/readyz", summary="Readiness: the model is loaded and warmed up")
    async def readyz(request: Request) -> Any:
        if not state["ready"]:
            return error(503, "not_ready", "the model is still loading")
        if not authorised(request.headers):  # what runs where is for key holders only
            return {"status": "ready"}
        return {"status": "ready", "model": s.model_info}

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def prom() -> Any:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(_page())

    return app
