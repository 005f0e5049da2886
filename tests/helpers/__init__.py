"""Shared test helpers: free ports, real etcd clusters on loopback."""
