"""The analyst's request: the DAG's trigger form, the second check against its schema, the worker split."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest

from airflow_dask_provider.analyst import allowed_values, param_schemas, plan_request, split_workers, validate_params
from airflow_dask_provider.exceptions import ClusterSpecError, QuotaExceededError
from airflow_dask_provider.hooks.clusters import ClusterCalls

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dag():
    from airflow.models import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags" / "dask_analyst_job.py"))
    assert bag.import_errors == {}
    return bag.dags["dask_analyst_job"]


@pytest.fixture(scope="module")
def schemas(dag):
    return param_schemas(dag.params)


def defaults(dag) -> dict:
    return {key: dag.params.get_param(key).value for key in dag.params}


# -- the form ---------------------------------------------------------------------------------------


def job_library() -> dict[str, str]:
    """The job library as its own DAG, ``dask_job_library``, runs it: each job and its generated input."""
    spec = importlib.util.spec_from_file_location("dask_job_library", REPO / "dags" / "dask_job_library.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.JOB_INPUTS


def test_the_job_choice_is_the_job_library(dag, schemas):
    from airflow_dask_provider.bundled import job_script

    library = job_library()
    assert set(schemas["job"]["enum"]) == set(library)
    assert dag.user_defined_macros["sample_kinds"] == library
    assert all(job_script(f"{job}.py") for job in schemas["job"]["enum"])


def test_every_field_has_a_title_and_every_choice_a_label(dag, schemas):
    assert all(schema.get("title") for schema in schemas.values())
    assert all(
        dag.params.get_param(key).description for key in ("job", "input_uri", "num_workers", "preemptible_share")
    )
    assert set(schemas["job"]["values_display"]) == set(schemas["job"]["enum"])


def test_the_form_bounds_the_workers_the_share_and_the_idle_ttl(schemas):
    assert (schemas["num_workers"]["minimum"], schemas["num_workers"]["maximum"]) == (2, 10)
    assert (schemas["preemptible_share"]["minimum"], schemas["preemptible_share"]["maximum"]) == (0, 1)
    assert schemas["idle_ttl_minutes"]["minimum"] == 10  # Dataproc's shortest idle TTL


def test_the_defaults_are_a_valid_request(dag, schemas):
    validate_params(defaults(dag), schemas)


def test_the_cluster_is_deleted_as_a_teardown_and_the_request_checked_before_it_is_created(dag):
    delete, create = dag.get_task("delete_cluster"), dag.get_task("create_cluster")

    assert delete.is_teardown
    assert create.upstream_task_ids == {"validate_request"}
    assert dag.get_task("run_job").trigger_rule == "none_failed"  # runs when generate_input is skipped


# -- the second check --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("num_workers", 11, "must be a whole number from 2 to 10"),
        ("num_workers", 1, "must be a whole number from 2 to 10"),
        ("preemptible_share", 1.5, "must be a number from 0 to 1"),
        ("idle_ttl_minutes", 5, "must be a whole number from 10 to 1440"),
        ("job", "rm_rf", "must be one of 'word_count', 'csv_to_parquet'"),
        ("input_uri", "s3://bucket/data", "must be text (or nothing) matching ^(gs://"),
    ],
)
def test_an_out_of_schema_value_is_refused_naming_field_value_and_allowed(dag, schemas, field, value, allowed):
    with pytest.raises(ClusterSpecError) as raised:
        validate_params({**defaults(dag), field: value}, schemas)

    assert (raised.value.field, raised.value.value) == (field, value)
    assert str(raised.value).startswith(f"Invalid {field}={value!r}: {allowed}")


def test_the_runs_conf_is_checked_as_sent(dag, schemas):
    """With ``[core] dag_run_conf_overrides_params`` off, the params keep their defaults: the conf still counts."""
    with pytest.raises(ClusterSpecError, match="Invalid num_workers=50"):
        validate_params(defaults(dag), schemas, conf={"num_workers": 50})


def test_an_unknown_field_is_refused(dag, schemas):
    with pytest.raises(ClusterSpecError, match=r"Invalid workers=4: is not a field of this request; the fields are "):
        validate_params(defaults(dag), schemas, conf={"workers": 4})


@pytest.mark.parametrize(
    ("schema", "text"),
    [
        ({"type": ["null", "integer"], "minimum": 1}, "must be a whole number (or nothing) of at least 1"),
        ({"type": "string", "minLength": 1}, "must be text of at least 1 characters"),
        ({"type": "number", "maximum": 3}, "must be a number of at most 3"),
    ],
)
def test_allowed_values_are_described_from_the_schema(schema, text):
    assert allowed_values(schema) == text


# -- the split ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "share", "split"),
    [
        (2, 0.0, (2, 0)),
        (2, 1.0, (2, 0)),
        (4, 0.5, (2, 2)),
        (5, 0.5, (2, 3)),
        (6, 0.5, (3, 3)),
        (10, 0.3, (7, 3)),
        (10, 1.0, (2, 8)),
        (3, 0.1, (3, 0)),
        (3, 0.16, (3, 0)),
        (3, 0.17, (2, 1)),
    ],
)
def test_workers_are_split_into_primary_and_preemptible(total, share, split):
    primary, secondary = split_workers(total, share)

    assert (primary, secondary) == split
    assert primary + secondary == total and primary >= 2


# -- the whole check ------------------------------------------------------------------------------------------


def context(dag, user: str = "alice", **params) -> dict:
    values = {**defaults(dag), **params}
    return {
        "dag": dag,
        "params": values,
        "dag_run": SimpleNamespace(triggering_user_name=user, conf=params),
        "task": SimpleNamespace(owner="data-platform"),
    }


def listing_hook(mocker):
    """A mock hook whose cluster listing is the hook's own, over a cluster client that lists none."""
    hook = mocker.Mock()
    for name in ("list_clusters", "list_provider_clusters"):
        getattr(hook, name).side_effect = functools.partial(getattr(ClusterCalls, name), hook)
    hook.get_cluster_client.return_value.list_clusters.return_value = []
    return hook


def test_an_accepted_request_gives_the_user_and_the_split(dag, mocker):
    hook = listing_hook(mocker)

    plan = plan_request(context(dag, "Alice", num_workers=6, preemptible_share=0.5), cluster_name="c1", hook=hook)

    assert plan == {
        "user": "Alice",
        "owner": "alice",
        "cluster_name": "c1",
        "num_workers": 3,
        "num_secondary_workers": 3,
    }
    assert hook.get_cluster_client.return_value.list_clusters.call_args.kwargs["request"]["region"] == "europe-west1"


def test_an_over_quota_request_is_refused(dag, mocker):
    hook = listing_hook(mocker)

    with pytest.raises(QuotaExceededError, match="this request asks for 4, 4 in all"):
        plan_request(context(dag, num_workers=8, preemptible_share=0.5), cluster_name="c1", hook=hook)


def test_an_out_of_schema_request_is_refused_before_dataproc_is_asked(dag, mocker):
    hook = mocker.Mock()

    with pytest.raises(ClusterSpecError, match="Invalid num_workers=12"):
        plan_request(context(dag, num_workers=12), cluster_name="c1", hook=hook)

    hook.get_cluster_client.assert_not_called()
