"""hostgate: terminal host applications (IBM 3270, IBM 5250, VT) as APIs, behind a failover management cluster."""

__version__ = "0.1.0"
