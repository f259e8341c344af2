"""The Google provider's Cloud Storage copy and sync operators, unchanged, against the emulator.

``STORAGE_EMULATOR_HOST`` points google-cloud-storage at the emulator's JSON API, and the connection
is anonymous (extra ``is_anonymous``): nothing of the Google provider is patched. The test that runs
this DAG writes the source objects first and checks the destination buckets after the run.
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.compat.sdk import DAG
from airflow.providers.google.cloud.operators.gcs import GCSSynchronizeBucketsOperator
from airflow.providers.google.cloud.transfers.gcs_to_gcs import GCSToGCSOperator

SOURCE, TARGET, MIRROR = "gcs-src", "gcs-dst", "gcs-mirror"

with DAG("google_gcs_on_emulator", schedule=None, start_date=datetime(2024, 1, 1), catchup=False) as dag:
    copy_wildcard = GCSToGCSOperator(
        task_id="copy_wildcard",
        source_bucket=SOURCE,
        source_object="data/2024/*.csv",
        destination_bucket=TARGET,
        destination_object="copied/",
    )
    copy_glob = GCSToGCSOperator(
        task_id="copy_glob",
        source_bucket=SOURCE,
        source_object="data/",
        match_glob="**/*.json",
        destination_bucket=TARGET,
        destination_object="json/",
    )
    move = GCSToGCSOperator(
        task_id="move",
        source_bucket=SOURCE,
        source_object="inbox/report.txt",
        destination_bucket=TARGET,
        destination_object="archive/report.txt",
        move_object=True,
    )
    # The same sync twice: the second finds nothing to copy or delete.
    sync, sync_again = (
        GCSSynchronizeBucketsOperator(
            task_id=task_id,
            source_bucket=SOURCE,
            source_object="data/",
            destination_bucket=MIRROR,
            destination_object="mirror/",
            recursive=True,
            delete_extra_files=True,
            allow_overwrite=True,
        )
        for task_id in ("sync", "sync_again")
    )
    copy_wildcard >> copy_glob >> move >> sync >> sync_again
