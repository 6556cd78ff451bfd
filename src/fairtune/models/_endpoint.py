"""A classifier behind an HTTP JSON API, as a black-box `Classifier`.

By default it speaks fairtune's own `POST /v1/predict` ({"texts": [...]} in; "predictions", each with
"probabilities" by label, out). Any other JSON API is described by three things: a request template in
which the string "{texts}" stands for the batch's list of texts, the path to the probabilities in the
response ("predictions.*.probabilities": `*` walks a list), and the label names when the probabilities
come as lists rather than by label.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlparse

import numpy as np

from fairtune.errors import ENDPOINT_BAD_RESPONSE, ENDPOINT_FAILED, ENDPOINT_NO_TEXTS_SLOT, FairtuneError
from fairtune.models._adapters import in_batches

TEXTS = "{texts}"
FAIRTUNE_REQUEST: dict[str, Any] = {"texts": TEXTS}
FAIRTUNE_PROBABILITIES = "predictions.*.probabilities"


def fill(template: Any, texts: list[str]) -> Any:
    """The request body: `template` with every "{texts}" string replaced by the list of texts."""
    if template == TEXTS:
        return texts
    if isinstance(template, Mapping):
        return {k: fill(v, texts) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(v, texts) for v in template]
    return template


def has_slot(template: Any) -> bool:
    if template == TEXTS:
        return True
    if isinstance(template, Mapping):
        return any(has_slot(v) for v in template.values())
    return isinstance(template, list) and any(has_slot(v) for v in template)


def walk(doc: Any, path: str) -> Any:
    """The value at dotted `path` in `doc`; a `*` segment maps the rest of the path over a list."""
    parts = path.split(".") if path else []
    for k, part in enumerate(parts):
        if part == "*":
            rest = ".".join(parts[k + 1 :])
            return [walk(item, rest) for item in doc]
        doc = doc[int(part)] if isinstance(doc, list) else doc[part]
    return doc


class EndpointClassifier:
    """`predict_proba` over HTTP, in batches of `batch_size` texts per request."""

    def __init__(
        self,
        url: str,
        *,
        labels: Sequence[str] | None = None,
        request: Any = None,
        probabilities: str | None = None,
        headers: Mapping[str, str] | None = None,
        batch_size: int = 32,
        timeout: float = 60.0,
    ) -> None:
        own = request is None and probabilities is None
        if own and urlparse(url).path in ("", "/"):
            url = url.rstrip("/") + "/v1/predict"
        self.url = url
        self.request = FAIRTUNE_REQUEST if request is None else request
        if not has_slot(self.request):
            raise FairtuneError(ENDPOINT_NO_TEXTS_SLOT.format(template=self.request))
        self.path = FAIRTUNE_PROBABILITIES if probabilities is None else probabilities
        self.headers = dict(headers or {})
        self.batch_size = batch_size
        self.timeout = timeout
        self.labels = list(labels) if labels else self._probe_labels()

    def _post(self, texts: list[str]) -> Any:
        import httpx

        try:
            resp = httpx.post(
                self.url, json=fill(self.request, texts), headers=self.headers, timeout=self.timeout
            )
            resp.raise_for_status()
            return resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise FairtuneError(
                ENDPOINT_FAILED.format(url=self.url, detail=str(exc).splitlines()[0])
            ) from None

    def _rows(self, texts: list[str]) -> list[Any]:
        doc = self._post(texts)
        try:
            rows = walk(doc, self.path)
        except (KeyError, IndexError, TypeError, ValueError):
            rows = None
        if not isinstance(rows, list):
            raise FairtuneError(
                ENDPOINT_BAD_RESPONSE.format(url=self.url, path=self.path, doc=str(doc)[:200])
            )
        return rows

    def _probe_labels(self) -> list[str]:
        row = self._rows(["label probe"])[0]
        if not isinstance(row, Mapping):
            raise FairtuneError(
                f"endpoint {self.url}: its probabilities are lists, which do not name their labels. Pass "
                "labels=[...] in column order (--labels on the command line)."
            )
        return [str(k) for k in row]

    def _matrix(self, rows: list[Any]) -> Any:
        if rows and isinstance(rows[0], Mapping):
            try:
                return [[float(r[name]) for name in self.labels] for r in rows]
            except KeyError as exc:
                raise FairtuneError(
                    ENDPOINT_BAD_RESPONSE.format(url=self.url, path=self.path, doc=f"no label {exc}")
                ) from None
        return rows

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        def call(chunk: list[str]) -> Any:
            return self._matrix(self._rows(chunk))

        return in_batches(texts, self.batch_size, self.labels, f"endpoint {self.url}", call)


def endpoint(url: str, **kwargs: Any) -> EndpointClassifier:
    """A running service as a `Classifier`: fairtune's own `fairtune serve` by default; any JSON API with
    `request=`, `probabilities=` and `labels=` (see the module's docstring)."""
    return EndpointClassifier(url, **kwargs)
