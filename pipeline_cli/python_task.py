"""The child process of a Python entrypoint task: import module:function, call it, save the dict.

Run as `python -m pipeline_cli.python_task` with the call in $PIPE_PY_CALL (JSON): the entrypoint,
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


_HERE = os.path.dirname(os.path.abspath(__file__))


def _users(frame: traceback.FrameSummary) -> bool:
    """A frame of the user's code: not pipe's own (this file), nor importlib's machinery."""
    name = frame.filename
    return not (name.startswith("<frozen importlib") or os.path.dirname(os.path.abspath(name)) == _HERE)


def _only_users(tb: traceback.TracebackException | None, seen: set | None = None) -> None:
    seen = set() if seen is None else seen
    while tb is not None and id(tb) not in seen:
        seen.add(id(tb))
        tb.stack = traceback.StackSummary.from_list([f for f in tb.stack if _users(f)])
        _only_users(tb.__context__, seen)
        tb = tb.__cause__


def print_users_traceback(error: BaseException) -> None:
    """The traceback of an exception from the user's code, without pipe's frames (which come
    first: this runner, importlib) so that it starts where the user's code does."""
    tb = traceback.TracebackException.from_exception(error)
    _only_users(tb)
    sys.stderr.write("".join(tb.format()))


def _missing(error: ModuleNotFoundError, module_name: str, folder: str) -> str:
    """One line for a module that cannot be found: the entry's own, or one it imports."""
    missing = error.name or str(error)
    if module_name == missing or module_name.startswith(missing + "."):
        return (f"pipe: no module {module_name!r}: not in the pipeline's folder {folder} nor on Python's path "
                f"({sys.executable})")
    where = ""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if _users(f)]
    if frames:
        where = f" (imported at {frames[-1].filename}:{frames[-1].lineno})"
    return (f"pipe: {module_name} needs the module {missing!r}, which is not installed for {sys.executable}"
            f"{where}")


def main() -> int:
    call = json.loads(os.environ.pop("PIPE_PY_CALL"))
    sys.path.insert(0, call["folder"])
    module_name, _, function_name = call["entry"].partition(":")
    try:
        import importlib

        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        print(_missing(e, module_name, call["folder"]), file=sys.stderr)
        return 1
    except Exception as e:
        print_users_traceback(e)
        print(f"pipe: importing {module_name!r} failed (above)", file=sys.stderr)
        return 1
    function = getattr(module, function_name, None)
    if not callable(function):
        print(f"pipe: module {module_name!r} has no function {function_name!r}", file=sys.stderr)
        return 1
    kwargs = dict(call["kwargs"])
    try:
        signature = inspect.signature(function)
        wants_context = "context" in signature.parameters
    except (TypeError, ValueError):
        signature, wants_context = None, False
    if wants_context:
        context = dict(call["context"])
        for key in ("logical_date", "data_interval_start", "data_interval_end"):
            if isinstance(context.get(key), str):
                context[key] = datetime.fromisoformat(context[key])
        kwargs["context"] = context
    if signature is not None:
        try:
            signature.bind(**kwargs)
        except TypeError as e:        # what `with:` gives does not fit the function's parameters
            print(f"pipe: {call['entry']}{signature} cannot be called with `with:` {sorted(call['kwargs'])}: {e}",
                  file=sys.stderr)
            return 1
    try:
        result = function(**kwargs)
    except Exception as e:
        print_users_traceback(e)
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
