"""ckptscope: how a language model's internals evolve over training."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ckptscope")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["__version__"]
