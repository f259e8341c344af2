"""Extra links of the provider's tasks: the Dask dashboard and the Dataproc console pages.

Each link's URL is pushed to XCom as soon as it is known, before any waiting, so the link works while
the task runs and after it has ended, on Airflow 2 and 3. A link whose URL is not known (yet) is
pushed as '': Airflow 3 reads every link of a task when the task defers or ends, and logs an error
for a key that was never pushed (``XCom not found``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote, urlencode

from airflow.providers.common.compat.sdk import BaseOperatorLink, XCom

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import TaskInstanceKey

CONSOLE = "https://console.cloud.google.com"


def console_url(path: str, *, project_id: str, region: str) -> str:
    """Return the Google Cloud console URL of a Dataproc page in a project and region."""
    return f"{CONSOLE}/dataproc/{path}?{urlencode({'region': region, 'project': project_id})}"


class XComUrlLink(BaseOperatorLink):
    """A link whose URL a task stores in XCom under the link's ``key``."""

    name: ClassVar[str]
    key: ClassVar[str]

    @property
    def xcom_key(self) -> str:
        """Return the XCom key Airflow 3 reads the URL from; the same as Airflow 2's."""
        return self.key

    @classmethod
    def persist(cls, context: Any, url: str | None) -> None:
        """Store the link's URL for the running task instance; '' when there is none, or none yet."""
        context["ti"].xcom_push(key=cls.key, value=url or "")

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        """Return the stored URL, or '' before the task stored one."""
        return XCom.get_value(key=self.key, ti_key=ti_key) or ""


class DaskDashboardLink(XComUrlLink):
    """The cluster's Dask dashboard, through Component Gateway."""

    name = "Dask Dashboard"
    key = "dask_dashboard_url"


class DataprocClusterLink(XComUrlLink):
    """The cluster's page in the Google Cloud console."""

    name = "Dataproc Cluster"
    key = "dataproc_cluster_url"

    @staticmethod
    def url(*, project_id: str, region: str, cluster_name: str) -> str:
        """Return the console URL of a cluster."""
        return console_url(f"clusters/{quote(cluster_name)}/monitoring", project_id=project_id, region=region)


class DataprocJobLink(XComUrlLink):
    """The job's page in the Google Cloud console."""

    name = "Dataproc Job"
    key = "dataproc_job_url"

    @staticmethod
    def url(*, project_id: str, region: str, job_id: str) -> str:
        """Return the console URL of a job."""
        return console_url(f"jobs/{quote(job_id)}", project_id=project_id, region=region)
