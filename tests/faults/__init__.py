"""Fault injection: a TCP proxy between clients and Redis, and the lifecycle under it."""
