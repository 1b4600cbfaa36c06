"""The results store: tidy Parquet tables queried through embedded DuckDB."""

from ckptscope.store.errors import StoreError
from ckptscope.store.objectstore import ObjectStore, is_url
from ckptscope.store.store import TABLES, Store, TaskKey

__all__ = ["TABLES", "ObjectStore", "Store", "StoreError", "TaskKey", "is_url"]
