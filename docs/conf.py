"""Sphinx configuration of the provider's documentation site: ``make docs`` builds it into docs/_build/html."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(DOCS.parent))
# autodoc imports the provider, which imports Airflow: an Airflow home of the build's own, not ~/airflow.
if "AIRFLOW_HOME" not in os.environ:
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="airflow-home-docs-")
    atexit.register(shutil.rmtree, os.environ["AIRFLOW_HOME"], ignore_errors=True)

from airflow_dask_provider import __version__  # noqa: E402

project = "airflow-dask-provider"
author = "the airflow-dask-provider authors"
project_copyright = author
version = release = __version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "provider_config",  # docs/_ext: the configuration reference from the registered options
    "repository_files",  # docs/_ext: links to the repository's Markdown files outside docs/ are downloads
]

# The pages are Markdown (MyST); each links to another's headings as on GitHub: page.md#a-heading.
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext"]
myst_heading_anchors = 4
myst_enable_extensions = ["fieldlist"]

# Docstrings use Sphinx fields (:param x:, no :type:) and PEP 604 hints, shown in the signature.
# No intersphinx: the build runs without network, so references to Airflow's, Google's and the standard
# library's classes are plain text; nitpicky stays off, as it would report those (about 130 of them).
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"show-inheritance": True}

html_theme = "furo"
html_title = f"Dask on Dataproc {release}"
