"""A bundled job submitted with ``job_script(...)`` alone: the operator adds the bundled scripts it imports."""

from __future__ import annotations

from .conftest import uri


def test_a_library_job_submitted_with_job_script_alone_succeeds(submit):
    generated = submit("generate.py", "text", f"--output={uri('alone/text')}", "--rows=2000", "--seed=1", py_files=())
    counted = submit("word_count.py", f"--input={uri('alone/text')}", f"--output={uri('alone/words')}", py_files=())

    assert (generated["job"], generated["rows"]) == ("generate", 2000)
    assert counted["job"] == "word_count" and counted["words"] > 2000
