"""Sensors of the provider: wait for a Dask cluster state or a Dask job, in a worker slot or deferred."""
