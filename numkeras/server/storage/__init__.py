"""Storage of one data dir: a SQLite database (WAL) and blob files written atomically."""

from numkeras.server.storage.blobs import BlobStore
from numkeras.server.storage.database import Storage, dumps, hash_key

__all__ = ["BlobStore", "Storage", "dumps", "hash_key"]
