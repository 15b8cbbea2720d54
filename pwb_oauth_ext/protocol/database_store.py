"""The database store's old module name: ``protocol.stores.database`` and ``.urls``."""
from pwb_oauth_ext.protocol.stores.database import (  # noqa: F401
    DEFAULT_OUTAGE_WAIT,
    SCHEMA_VERSION,
    DatabaseStore,
    DatabaseTransaction,
)
from pwb_oauth_ext.protocol.stores.urls import DEFAULT_LEASE, Database, StoreURL  # noqa: F401
