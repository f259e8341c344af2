"""The classes the provider registers with Airflow, as the documentation tests check them."""

from __future__ import annotations

import importlib

from airflow_dask_provider import get_provider_info

#: The kinds of module ``get_provider_info()`` lists, in its order.
KINDS = ("operators", "sensors", "triggers", "hooks")


def registered_modules() -> list[str]:
    """Return the operator, sensor, trigger and hook modules the provider registers with Airflow."""
    info = get_provider_info()
    return [module for kind in KINDS for group in info[kind] for module in group["python-modules"]]


def classes_of(module_name: str) -> list[tuple[str, type]]:
    """Return the public classes defined in ``module_name`` (not imported into it), by name."""
    module = importlib.import_module(module_name)
    return sorted(
        (name, value)
        for name, value in vars(module).items()
        if isinstance(value, type) and value.__module__ == module_name and not name.startswith("_")
    )
