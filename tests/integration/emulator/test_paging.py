"""ListClusters, ListJobs and ListAutoscalingPolicies in pages, as Dataproc pages them.

The real clients' pagers follow ``next_page_token`` from page to page: with ``page_size=2`` over five
items they see pages of 2, 2 and 1 and every item once. A token the list did not return, or one
replayed with another query, is refused. Everything here lives in a region of its own, so the counts
are exact while other tests create clusters elsewhere.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest
from google.api_core.exceptions import InvalidArgument

from .conftest import PROJECT, SINGLE_NODE, delete_cluster, write_script
from .test_autoscaling import policy

REGION = "asia-east2"
WHERE = {"project_id": PROJECT, "region": REGION}
PARENT = f"projects/{PROJECT}/regions/{REGION}"
NAMES = [f"paged-{i}" for i in range(5)]
#: The clusters labelled ``half=yes``: a filtered list pages only these.
HALF = NAMES[:3]


@pytest.fixture(scope="module")
def paged_clusters(clusters):
    """Five single-node clusters, created at once, three of them labelled ``half=yes``."""
    operations = [
        clusters.create_cluster(
            **WHERE,
            cluster={"cluster_name": name, "config": SINGLE_NODE, "labels": {"half": "yes" if name in HALF else "no"}},
        )
        for name in NAMES
    ]
    try:
        yield [operation.result(timeout=240) for operation in operations]
    finally:
        for name in NAMES:
            delete_cluster(clusters, name, region=REGION)


@pytest.fixture(scope="module")
def paged_jobs(jobs, paged_clusters, tmp_path_factory):
    """Five finished jobs on the first of the clusters."""
    script = write_script(tmp_path_factory.mktemp("paged-jobs"), "print('paged')\n")
    submitted = [
        jobs.submit_job(
            **WHERE,
            job={
                "reference": {"job_id": f"paged-job-{i}"},
                "placement": {"cluster_name": NAMES[0]},
                "pyspark_job": {"main_python_file_uri": str(script)},
            },
        )
        for i in range(5)
    ]
    ids = [job.reference.job_id for job in submitted]
    deadline = time.monotonic() + 120
    while not all(jobs.get_job(**WHERE, job_id=job_id).done for job_id in ids) and time.monotonic() < deadline:
        time.sleep(0.2)
    return ids


@pytest.fixture(scope="module")
def paged_policies(policies):
    """Five autoscaling policies."""
    ids = [f"paged-policy-{i}" for i in range(5)]
    for policy_id in ids:
        policies.create_autoscaling_policy(parent=PARENT, policy=policy(policy_id))
    yield ids
    for policy_id in ids:
        policies.delete_autoscaling_policy(name=f"{PARENT}/autoscalingPolicies/{policy_id}")


def page_sizes(pager, field: str) -> list[int]:
    return [len(getattr(page, field)) for page in pager.pages]


def test_clusters_come_in_pages_of_page_size_and_the_pager_sees_each_once(clusters, paged_clusters):
    request = {**WHERE, "page_size": 2}

    names = [cluster.cluster_name for cluster in clusters.list_clusters(request=request)]

    assert Counter(names) == Counter(NAMES)
    assert page_sizes(clusters.list_clusters(request=request), "clusters") == [2, 2, 1]


def test_a_filtered_cluster_list_pages_only_its_matches(clusters, paged_clusters):
    request = {**WHERE, "page_size": 2, "filter": "labels.half = yes"}

    assert sorted(cluster.cluster_name for cluster in clusters.list_clusters(request=request)) == HALF
    assert page_sizes(clusters.list_clusters(request=request), "clusters") == [2, 1]


def test_without_page_size_every_cluster_comes_in_one_page(clusters, paged_clusters):
    response = clusters.list_clusters(request=WHERE)

    assert page_sizes(response, "clusters") == [5]
    assert response.next_page_token == ""


def test_jobs_come_in_pages_of_page_size_and_the_pager_sees_each_once(jobs, paged_jobs):
    request = {**WHERE, "page_size": 2}

    ids = [job.reference.job_id for job in jobs.list_jobs(request=request)]

    assert Counter(ids) == Counter(paged_jobs)
    assert page_sizes(jobs.list_jobs(request=request), "jobs") == [2, 2, 1]


def test_policies_come_in_pages_of_page_size_and_the_pager_sees_each_once(policies, paged_policies):
    request = {"parent": PARENT, "page_size": 2}

    ids = [found.id for found in policies.list_autoscaling_policies(request=request)]

    assert Counter(ids) == Counter(paged_policies)
    assert page_sizes(policies.list_autoscaling_policies(request=request), "policies") == [2, 2, 1]


@pytest.mark.parametrize(
    ("client", "list_method", "request_"),
    [
        ("clusters", "list_clusters", WHERE),
        ("jobs", "list_jobs", WHERE),
        ("policies", "list_autoscaling_policies", {"parent": PARENT}),
    ],
)
def test_a_token_the_list_did_not_return_is_refused(request, client, list_method, request_):
    lister = getattr(request.getfixturevalue(client), list_method)

    with pytest.raises(InvalidArgument, match="page_token 'not-a-token'"):
        list(lister(request={**request_, "page_token": "not-a-token"}))


def test_a_token_replayed_with_another_filter_is_refused(clusters, paged_clusters):
    first = clusters.list_clusters(request={**WHERE, "page_size": 2, "filter": "labels.half = yes"})
    token = first.next_page_token
    assert token

    with pytest.raises(InvalidArgument, match="another query"):
        clusters.list_clusters(request={**WHERE, "page_size": 2, "filter": "labels.half = no", "page_token": token})


def test_a_negative_page_size_is_refused(clusters):
    with pytest.raises(InvalidArgument, match="page_size"):
        list(clusters.list_clusters(request={**WHERE, "page_size": -1}))
