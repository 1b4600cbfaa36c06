"""The results store: tidy Parquet tables queried through embedded DuckDB."""

from ckptscope.store.objectstore import ObjectStore, is_url
from ckptscope.store.store import TABLES, Store, TaskKey

__all__ = ["TABLES", "ObjectStore", "Store", "TaskKey", "is_url"]
