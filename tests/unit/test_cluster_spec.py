from __future__ import annotations

from datetime import timedelta

import pytest

from airflow_dask_provider.cluster_spec import (
    DaskClusterSpec,
    InitAction,
    parse_duration,
    validate_cluster_name,
    validate_labels,
)
from airflow_dask_provider.exceptions import ClusterSpecError


def test_defaults_follow_the_design_documents():
    config = DaskClusterSpec().to_cluster_config(region="europe-west1")

    assert config.master_config.machine_type_uri == "n2-standard-4"
    assert config.worker_config.num_instances == 2
    assert config.worker_config.machine_type_uri == "n2-standard-4"
    assert config.worker_config.disk_config.boot_disk_type == "pd-balanced"
    assert config.worker_config.disk_config.boot_disk_size_gb == 100
    assert config.gce_cluster_config.internal_ip_only is True
    assert config.endpoint_config.enable_http_port_access is True
    assert config.lifecycle_config.idle_delete_ttl.total_seconds() == 7200
    assert config.software_config.image_version.startswith("2.2")
    assert config.gce_cluster_config.metadata["dask-runtime"] == "standalone"
    assert "secondary_worker_config" not in config


def test_without_init_actions_the_public_dask_action_of_the_region_is_used():
    config = DaskClusterSpec().to_cluster_config(region="us-east1")

    [action] = config.initialization_actions
    assert action.executable_file == "gs://goog-dataproc-initialization-actions-us-east1/dask/dask.sh"


def test_secondary_workers_are_preemptible_by_default():
    config = DaskClusterSpec(num_secondary_workers=3).to_cluster_config(region="r")

    assert config.secondary_worker_config.num_instances == 3
    assert config.secondary_worker_config.preemptibility.name == "PREEMPTIBLE"


def test_spot_secondary_workers():
    spec = DaskClusterSpec(num_secondary_workers=1, secondary_worker_type="spot")

    assert spec.to_cluster_config(region="r").secondary_worker_config.preemptibility.name == "SPOT"


def test_optional_settings_reach_the_cluster_config():
    key = "projects/p/locations/europe-west1/keyRings/r/cryptoKeys/k"
    spec = DaskClusterSpec(
        auto_delete_ttl="1d",
        kms_key_name=key,
        subnetwork_uri="projects/p/regions/r/subnetworks/s",
        service_account="dask@p.iam.gserviceaccount.com",
        autoscaling_policy_uri="projects/p/regions/r/autoscalingPolicies/a",
        init_actions=[InitAction("gs://b/dask.sh", 300)],
        metadata={"dask-version": "2024.8.0"},
        labels={"team": "data"},
    )
    config = spec.to_cluster_config(region="r")

    assert config.lifecycle_config.auto_delete_ttl.total_seconds() == 86400
    assert config.encryption_config.gce_pd_kms_key_name == key
    assert config.gce_cluster_config.subnetwork_uri.endswith("/s")
    assert config.gce_cluster_config.service_account.startswith("dask@")
    assert config.autoscaling_config.policy_uri.endswith("/a")
    assert [a.executable_file for a in config.initialization_actions] == ["gs://b/dask.sh"]
    assert config.initialization_actions[0].execution_timeout.total_seconds() == 300
    assert config.gce_cluster_config.metadata["dask-version"] == "2024.8.0"


def test_single_node_cluster_allows_zero_workers():
    config = DaskClusterSpec(num_workers=0).to_cluster_config(region="r")

    assert config.software_config.properties["dataproc:dataproc.allow.zero.workers"] == "true"


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(600, 600), ("2h", 7200), ("90m", 5400), ("3600s", 3600), ("1d", 86400), (timedelta(hours=3), 10800)],
)
def test_durations_accept_seconds_text_and_timedelta(value, seconds):
    assert parse_duration("idle_delete_ttl", value) == seconds


def test_rendered_template_text_is_accepted_for_whole_numbers():
    assert DaskClusterSpec(num_workers="4").num_workers == 4


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("num_workers", 1, "0 (single node) or from 2 to 1000"),
        ("num_workers", -2, "from 0 to 1000"),
        ("num_workers", "many", "whole number"),
        ("num_secondary_workers", 1001, "from 0 to 1000"),
        ("secondary_worker_type", "cheap", "preemptible, spot, non-preemptible"),
        ("boot_disk_type", "floppy", "pd-balanced"),
        ("boot_disk_size_gb", 10, "from 30 to 65536"),
        ("num_local_ssds", 9, "from 0 to 8"),
        ("image_version", "2.0-debian10", "2.1 or newer"),
        ("image_version", "latest", "2.1 or newer"),
        ("dask_runtime", "kubernetes", "standalone, yarn"),
        ("idle_delete_ttl", "5m", "10 minutes to 14 days"),
        ("idle_delete_ttl", "15d", "10 minutes to 14 days"),
        ("idle_delete_ttl", "soon", "like '2h'"),
        ("auto_delete_ttl", 60, "10 minutes to 14 days"),
        ("kms_key_name", "my-key", "projects/P/locations/L/keyRings/R/cryptoKeys/K"),
        ("master_machine_type", "N2 Standard", "machine type"),
        ("init_actions", ["http://x/a.sh"], "gs:// URI"),
    ],
)
def test_bad_value_names_field_value_and_allowed_range(field, value, allowed):
    with pytest.raises(ClusterSpecError) as caught:
        DaskClusterSpec(**{field: value})

    message = str(caught.value)
    shown = value[0] if isinstance(value, list) else value
    assert caught.value.field.startswith(field)
    assert repr(shown) in message
    assert allowed in message


def test_secondary_workers_need_primary_workers():
    with pytest.raises(ClusterSpecError, match="num_secondary_workers"):
        DaskClusterSpec(num_workers=0, num_secondary_workers=2)


@pytest.mark.parametrize("name", ["dask", "dask-etl-0123456789", "a" * 51])
def test_valid_cluster_names(name):
    assert validate_cluster_name(name) == name


@pytest.mark.parametrize("name", ["Dask", "1dask", "dask-", "dask_etl", "a" * 52, ""])
def test_invalid_cluster_names_are_refused(name):
    with pytest.raises(ClusterSpecError, match="cluster_name"):
        validate_cluster_name(name)


def test_labels_follow_dataproc_rules():
    assert validate_labels({"team": "data", "n": 3}) == {"team": "data", "n": "3"}
    with pytest.raises(ClusterSpecError, match="labels key"):
        validate_labels({"Team": "x"})
    with pytest.raises(ClusterSpecError, match=r"labels\[team\]"):
        validate_labels({"team": "Data Eng"})


def test_network_tags_reach_every_node_for_a_firewall_rule():
    config = DaskClusterSpec(network_tags=["dask-etl", "no-internet"]).to_cluster_config(region="europe-west1")

    assert list(config.gce_cluster_config.tags) == ["dask-etl", "no-internet"]


@pytest.mark.parametrize("tags", ["dask-etl", ["Dask"], ["-x"], ["a" * 64]])
def test_bad_network_tags_are_refused_naming_the_field(tags):
    with pytest.raises(ClusterSpecError, match="network_tags"):
        DaskClusterSpec(network_tags=tags)


def test_the_yarn_runtime_which_has_no_tls_needs_the_plaintext_opt_out():
    with pytest.raises(ClusterSpecError, match="dask_runtime='yarn'.*dask-allow-plaintext"):
        DaskClusterSpec(dask_runtime="yarn")

    opted_out = DaskClusterSpec(dask_runtime="yarn", metadata={"dask-allow-plaintext": "true"})

    assert opted_out.node_metadata()["dask-runtime"] == "yarn"
