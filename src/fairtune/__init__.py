"""fairtune: fine-tune text classifiers and ship them with evidence that they are fit to use."""

__version__ = "0.1.0"
__all__ = ["__version__"]
