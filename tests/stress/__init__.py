"""Stress and crash tests against a real server (uvicorn, two worker processes) on each database."""
