"""Issue 15 item 15: a Python task's errors show the user's code only; a missing module is one line."""
from __future__ import annotations

import pytest

PIPELINE = """
tasks:
  boom:
    python: mods.boom:main
    with: {city: x}
  missing:
    python: nomod.x:main
    env: {PYTHONPATH: "{{ ds }}"}    # known only at run time: validation cannot be sure, so the run says it
  dep:
    python: mods.bad_import:main
  args:
    python: mods.boom:alias          # bound by an assignment: validation cannot read its parameters
    with: {town: x}
"""


@pytest.fixture
def logs(project, write_pipeline, pipe):
    mods = project / "pipelines" / "mods"
    mods.mkdir()
    (mods / "__init__.py").write_text("")
    (mods / "boom.py").write_text("def helper(x):\n    return 1 / x\n\n\ndef main(city):\n    return {'v': helper(0)}\n\n\n"
                                   "alias = main\n")
    (mods / "bad_import.py").write_text("import notinstalled_xyz\n\n\ndef main():\n    pass\n")
    write_pipeline("py", PIPELINE)
    r = pipe("run", "py")
    assert r.returncode == 1
    runs = list((project / ".pipe" / "py" / "runs").iterdir())
    return {t: (runs[0] / "logs" / f"{t}.1.log").read_text() for t in ("boom", "missing", "dep", "args")}


def test_traceback_starts_at_the_users_code(logs):
    text = logs["boom"]
    assert text.startswith("Traceback (most recent call last):\n  File ")
    assert "python_task.py" not in text and "importlib" not in text and "pipeline_cli" not in text
    assert 'boom.py", line 6, in main' in text and 'boom.py", line 2, in helper' in text
    assert text.rstrip().endswith("ZeroDivisionError: division by zero")


def test_missing_entry_module_is_one_line(logs, project):
    assert logs["missing"].count("\n") == 1
    assert logs["missing"].startswith(f"pipe: no module 'nomod.x': not in the pipeline's folder "
                                      f"{project / 'pipelines'} nor on Python's path")


def test_missing_dependency_of_the_users_module_is_one_line(logs):
    assert logs["dep"].count("\n") == 1
    assert "mods.bad_import needs the module 'notinstalled_xyz', which is not installed" in logs["dep"]
    assert "bad_import.py:1)" in logs["dep"]


def test_with_that_does_not_fit_the_function_is_one_line(logs):
    assert logs["args"] == ("pipe: mods.boom:alias(city) cannot be called with `with:` ['town']: "
                            "missing a required argument: 'city'\n")
