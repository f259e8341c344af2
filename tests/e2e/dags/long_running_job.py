"""A driver that prints a line and then sleeps for ten minutes: it outlives its endpoint."""

import time

print("started", flush=True)
time.sleep(600)
