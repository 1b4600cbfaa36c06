"""The results store: tidy Parquet tables queried through embedded DuckDB."""

from ckptscope.store.store import TABLES, Store, TaskKey

__all__ = ["TABLES", "Store", "TaskKey"]
