"""Data sources shared by calibration and evaluation: re-iterable, streaming, fingerprinted."""

from edgekit.data.sources import Batch, DataSource, batches, open_data

__all__ = ["Batch", "DataSource", "batches", "open_data"]
