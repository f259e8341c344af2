from __future__ import annotations

from ..operators.conftest import context  # noqa: F401 (the operators' task context fixture)
