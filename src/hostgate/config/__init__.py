"""Configuration: frozen typed settings from ``hostgate.toml`` plus ``HOSTGATE_*`` environment overrides."""

from hostgate.config.settings import (
    CONFIG_FILE,
    DEFAULT_PORT,
    EtcdSettings,
    NamingSettings,
    ServerSettings,
    Settings,
    StoreBackend,
    TlsSettings,
    load_settings,
    write_settings,
)

__all__ = [
    "CONFIG_FILE",
    "DEFAULT_PORT",
    "EtcdSettings",
    "NamingSettings",
    "ServerSettings",
    "Settings",
    "StoreBackend",
    "TlsSettings",
    "load_settings",
    "write_settings",
]
