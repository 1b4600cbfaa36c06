"""The results store: tidy Parquet tables queried through embedded DuckDB."""

from ckptscope.store.errors import StoreBusy, StoreError, StoreSchemaError
from ckptscope.store.layout import is_url, store_location
from ckptscope.store.store import TABLES, Store, TaskKey

__all__ = [
    "TABLES",
    "Store",
    "StoreBusy",
    "StoreError",
    "StoreSchemaError",
    "TaskKey",
    "is_url",
    "store_location",
]
