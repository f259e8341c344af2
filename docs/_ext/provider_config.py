"""The ``provider-config`` directive: the reference of the options the provider registers with Airflow.

It reads ``airflow_dask_provider.get_provider_info()["config"]``, what Airflow itself reads through the
provider's entry point, and writes one heading per option (anchor: the option's name, as
``configuration.md#max_idle_delete_ttl``) with its description, type, default, example, environment
variable and first version. A Markdown (MyST) page uses it as:

    ```{provider-config}
    ```
"""

from __future__ import annotations

import re
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

MARKDOWN_SPECIALS = re.compile(r"([\\`*_\[\]<>#|{}])")


def provider_config() -> dict[str, Any]:
    """Return the sections Airflow registers from the provider's entry point."""
    from airflow_dask_provider import get_provider_info

    return get_provider_info()["config"]


def environment_variable(section: str, option: str) -> str:
    """Return the variable that sets an option, as Airflow reads it."""
    return f"AIRFLOW__{section.upper()}__{option.upper()}"


def literal(value: str) -> str:
    """Return ``value`` as Markdown inline code, or a word for an empty value."""
    return f"`{value}`" if value else "empty (not set)"


def option_markdown(section: str, option: str, spec: dict[str, Any]) -> list[str]:
    """Return one option's heading and fields, in Markdown."""
    lines = [
        f"### `{option}`",
        "",
        MARKDOWN_SPECIALS.sub(r"\\\1", spec["description"]),
        "",
        f":Type: {spec['type']}",
        f":Default: {literal(spec['default'])}",
    ]
    if spec.get("example"):
        lines.append(f":Example: {literal(spec['example'])}")
    lines += [f":Environment variable: `{environment_variable(section, option)}`"]
    if spec.get("version_added"):
        lines.append(f":Added in: {spec['version_added']}")
    return [*lines, ""]


def config_markdown(config: dict[str, Any]) -> list[str]:
    """Return every section of ``config`` in Markdown: a heading, its description, then its options."""
    lines = []
    for section, body in config.items():
        lines += [f"## `[{section}]`", "", MARKDOWN_SPECIALS.sub(r"\\\1", body["description"]), ""]
        for option, spec in body["options"].items():
            lines += option_markdown(section, option, spec)
    return lines


class ProviderConfigDirective(SphinxDirective):
    """Render the provider's registered configuration (in a Markdown page: its headings are Markdown's)."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        container = nodes.container()
        self.state.nested_parse(StringList(config_markdown(provider_config())), 0, container, match_titles=True)
        return container.children


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("provider-config", ProviderConfigDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
