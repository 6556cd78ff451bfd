"""Serving: a FastAPI app over any `Classifier` (micro-batched predictions, explanations, metrics, a page)."""

from fairtune.serve._app import MicroBatcher, ServeSettings, create_app

__all__ = ["MicroBatcher", "ServeSettings", "create_app"]
