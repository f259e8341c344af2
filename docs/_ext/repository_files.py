"""Links from a page to a Markdown file of the repository outside ``docs/`` download that file.

MyST makes a link to any file a download of it (``../dags/dask_ephemeral_etl.py``), except a
Markdown one, which it takes for a page of the site and reports missing
(``../benchmarks/RESULTS.md``, ``../init_actions/README.md``). This transform makes those links
downloads like the others, before Sphinx collects the downloads. A link to a Markdown file inside
``docs/`` that is no page, or to a file that does not exist, is still reported.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.transforms import SphinxTransform


class RepositoryMarkdownLinks(SphinxTransform):
    """Turn MyST's page references to Markdown files outside the source folder into downloads."""

    # Before DoctreeReadEvent (880), whose doctree-read event has the download collector note the files.
    default_priority = 870

    def apply(self, **kwargs: Any) -> None:
        source_dir = Path(self.env.srcdir).resolve()
        page_dir = Path(self.env.doc2path(self.env.docname)).parent
        for node in list(self.document.findall(addnodes.pending_xref)):
            if node.get("refdomain") != "doc" or node.get("reftype") != "myst":
                continue
            target = Path(page_dir, node["reftarget"] + ".md").resolve()
            if source_dir in target.parents or not target.is_file():
                continue
            download = addnodes.download_reference(
                refdomain=None,
                reftarget=os.path.relpath(target, page_dir),
                refdoc=node["refdoc"],
                reftype="myst",
                refexplicit=node.get("refexplicit", True),
                classes=[*node.get("classes", []), "download"],
            )
            download.extend(node.children)
            node.replace_self(download)


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_transform(RepositoryMarkdownLinks)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
