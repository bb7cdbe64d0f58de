"""HTTP: routers, the auth dependency, problem responses."""
