"""pytest-testreport: report pytest runs live to Buddy.works, BrowserStack, Buildkite or locally."""

from .api import metadata, step

__version__ = "0.1.0"
__all__ = ["__version__", "metadata", "step"]
