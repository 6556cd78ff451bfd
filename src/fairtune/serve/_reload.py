"""Hot reload: swap a newly loaded model into a running server without dropping a request.

The new model is loaded and warmed up in a thread of its own while the old one keeps answering; the swap
itself runs in the model thread, so it falls between two prediction batches and no batch sees half of
it. Explanations started before the swap finish on their own copy of the old model; the next one copies
the new. A model with another label set is refused (clients read labels from the answers), and the old
one keeps serving. With `prepare`, whatever depends on the model (the drift monitor's reference) is
made ready in the load thread too and switched over by the swap itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from fairtune.errors import FairtuneError

LOG = logging.getLogger("fairtune.serve")
Loader = Callable[[], tuple[Any, dict[str, Any]]]
#: (new model, its info) -> what the swap calls in the model thread; run in the load thread, never raises
Prepare = Callable[[Any, dict[str, Any]], Callable[[], None]]


class ModelSwapper:
    """`reload()` loads with `loader` and swaps the result into `state["clf"]` (and `model_info`)."""

    def __init__(
        self,
        state: dict[str, Any],
        model_thread: ThreadPoolExecutor,
        model_info: dict[str, Any],
        loader: Loader | None,
        on_swap: Callable[[], None] = lambda: None,
        prepare: Prepare | None = None,
    ) -> None:
        self.state, self.model_thread, self.model_info = state, model_thread, model_info
        self.loader, self.on_swap, self.prepare = loader, on_swap, prepare
        self.load_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fairtune-reload")
        self.lock = asyncio.Lock()
        self.watcher: asyncio.Task[None] | None = None

    async def reload(self) -> dict[str, Any]:
        """Load, check and warm the model again, then swap it in; the new model info."""
        if self.loader is None:
            raise FairtuneError("reload: this server was started without a way to load its model again.")
        loader = self.loader
        async with self.lock:  # one reload at a time; a second request waits and reloads again
            loop = asyncio.get_running_loop()
            new, info = await loop.run_in_executor(self.load_thread, loader)
            old = self.state["clf"]
            if list(new.labels) != list(old.labels):
                raise FairtuneError(
                    f"reload: the new model's labels {new.labels} differ from the served {old.labels}; "
                    "clients read labels from the answers, so it is not swapped in. Serve it on its own."
                )
            await loop.run_in_executor(self.load_thread, new.predict_proba, ["warm up"])
            commit = None
            if self.prepare is not None:
                commit = await loop.run_in_executor(self.load_thread, self.prepare, new, info)
            await loop.run_in_executor(self.model_thread, self._swap, new, info, commit)
            LOG.info("reloaded: %s (%s)", info.get("name", "model"), info.get("variant", ""))
            return info

    def _swap(self, new: Any, info: dict[str, Any], commit: Callable[[], None] | None = None) -> None:
        self.state["clf"] = new
        if commit is not None:
            commit()
        self.state.pop("explain_clf", None)  # the next explanation copies the new model
        self.model_info.clear()
        self.model_info.update(info)
        self.on_swap()

    async def _reload_logged(self) -> None:
        try:
            await self.reload()
        except Exception as exc:  # a failed reload keeps the old model serving; say why
            LOG.error("reload failed, still serving the previous model: %s", exc)

    def on_sighup(self) -> None:
        """Reload on SIGHUP (where the event loop may take signals: the main thread, not Windows)."""
        loop = asyncio.get_running_loop()
        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError, AttributeError):
            loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(self._reload_logged()))

    def watch(self, path: Path, every: float = 2.0) -> None:
        """Reload whenever `path` (the run's current.json, from `fairtune update`) appears or changes."""
        self.watcher = asyncio.get_running_loop().create_task(self._watch(path, every))

    async def _watch(self, path: Path, every: float) -> None:
        seen = _stamp(path)
        while True:
            await asyncio.sleep(every)
            now = _stamp(path)
            if now != seen:
                seen = now
                LOG.info("%s changed: reloading", path)
                await self._reload_logged()

    async def stop(self) -> None:
        if self.watcher is not None:
            self.watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.watcher
        self.load_thread.shutdown(wait=True)


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_mtime_ns, st.st_size
