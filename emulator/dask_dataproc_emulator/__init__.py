"""A local Dataproc: the real Dataproc v1 gRPC API, backed by real Dask processes.

Run it with ``dask-dataproc-emulator --port 8790 --data-dir DIR`` (or ``python -m
dask_dataproc_emulator``), or from tests with
:func:`dask_dataproc_emulator.testing.run_emulator`. Unmodified ``google.cloud.dataproc_v1``
clients talk to it over plain gRPC on 127.0.0.1 (``ClusterController``, ``JobController``,
``AutoscalingPolicyService``, ``WorkflowTemplateService`` and ``google.longrunning.Operations``), and an unmodified
``google.cloud.storage`` client reads and writes its buckets over HTTP.

What stands for what:

- a cluster is a ``dask scheduler`` process (the master) and one ``dask worker`` process per worker
  node; once RUNNING, ``config.gce_cluster_config.metadata`` holds ``dask-scheduler-host`` and
  ``dask-scheduler-port``, and ``config.endpoint_config.http_ports["Dask Dashboard"]`` the dashboard
  under ``/gateway/default/dask/``, as Component Gateway would serve it;
- a job is a pyspark job whose main file is a plain Python script (a Dask driver), run with
  ``DASK_SCHEDULER_ADDRESS`` set; ``gs://`` arguments are rewritten to local paths;
- a bucket is the directory ``DIR/gcs/BUCKET``;
- ``lifecycle_config`` TTLs are enforced as on Dataproc, on a clock ``--time-scale`` times faster.

Modules: :mod:`.clusters` (stop and start in :mod:`.cluster_power`), :mod:`.jobs`, :mod:`.autoscaling`,
:mod:`.workflows`, :mod:`.operations` (the services); :mod:`.workflow_templates` and :mod:`.workflow_runner` (templates and their runs);
:mod:`.dask_cluster`, :mod:`.job_runner`, :mod:`.processes` (the processes); :mod:`.storage`,
:mod:`.object_store`, :mod:`.object_listing` and :mod:`.object_metadata` (Cloud Storage);
:mod:`.lifecycle` (scheduled deletion); :mod:`.paging` (list pages); :mod:`.errors` (status codes);
:mod:`.settings` (defaults).
Nothing of this package is imported by the provider's operators.
"""
