"""The child process of a Python entrypoint task: import module:function, call it, save the dict.

Run as `python -m pipeline_cli.pytask` with the call in $PIPE_PY_CALL (JSON): the entrypoint,
the pipeline's folder (put first on sys.path), the keyword arguments, the template context
and where to write the returned dict. An exception's traceback goes to the task's log.
"""
from __future__ import annotations

import inspect
import json
import os
import sys
import traceback
from datetime import datetime


def main() -> int:
    call = json.loads(os.environ.pop("PIPE_PY_CALL"))
    sys.path.insert(0, call["folder"])
    module_name, _, function_name = call["entry"].partition(":")
    try:
        import importlib

        module = importlib.import_module(module_name)
    except Exception:
        traceback.print_exc()
        print(f"pipe: cannot import module {module_name!r} (looked first in {call['folder']})", file=sys.stderr)
        return 1
    function = getattr(module, function_name, None)
    if not callable(function):
        print(f"pipe: module {module_name!r} has no function {function_name!r}", file=sys.stderr)
        return 1
    kwargs = dict(call["kwargs"])
    try:
        wants_context = "context" in inspect.signature(function).parameters
    except (TypeError, ValueError):
        wants_context = False
    if wants_context:
        context = dict(call["context"])
        for key in ("logical_date", "data_interval_start", "data_interval_end"):
            if isinstance(context.get(key), str):
                context[key] = datetime.fromisoformat(context[key])
        kwargs["context"] = context
    try:
        result = function(**kwargs)
    except Exception:
        traceback.print_exc()
        return 1
    if result is None:
        result = {}
    if not isinstance(result, dict):
        print(f"pipe: {call['entry']} returned {type(result).__name__}; a task returns a dict of outputs or None",
              file=sys.stderr)
        return 1
    try:
        data = json.dumps(result).encode()
    except (TypeError, ValueError) as e:
        print(f"pipe: {call['entry']} returned outputs that are not JSON values: {e}", file=sys.stderr)
        return 1
    path = call["result"]
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
