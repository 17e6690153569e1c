"""Python entrypoints (`python: module:function`), checked without running the user's code:
the module file is found where the task's Python will look, its source is parsed with
`ast`, and `with:` is matched against the function's parameters.

The task's Python (`python -m pipeline_cli.python_task`, in the task's working folder) looks in
the pipeline file's folder, then its working folder, then PYTHONPATH, then the path of the
interpreter pipe runs on. Packages are followed with `importlib.machinery.PathFinder`,
which reads folders only: no `__init__` is imported.

Only what is certain is refused. Accepted unchecked: a module that is not Python source
(built in, a C extension, a .pyc, a zip), a standard-library name (the runner has its own
copy loaded first), a working folder or PYTHONPATH known only at run time (a template), an
environment that moves the installed packages (PYTHONHOME, PYTHONUSERBASE...), a package
that changes its `__path__`, a module that can make names at
run time (`from x import *`, a module `__getattr__`, `globals()`, `exec`, `sys.modules`),
and a function bound in any other way than by one plain top-level `def` (a decorator, an
assignment, an import, a `def` under `if`...).
"""
from __future__ import annotations

import ast
import difflib
import importlib.machinery
import os
import sys
from pathlib import Path

UNKNOWN = None          # a lookup whose answer is not certain: accepted
_DYNAMIC = frozenset({"globals", "vars", "exec", "eval", "locals", "__import__", "setattr", "__getattr__"})
_SITE = ("PYTHONHOME", "PYTHONUSERBASE", "PYTHONNOUSERSITE", "PYTHONPLATLIBDIR")   # move what is installed


def _plain(value) -> str | None:
    from .. import templates

    return value if isinstance(value, str) and not templates.is_template(value) else None


def task_path(file: str, doc: dict, merged: dict) -> list[str | None]:
    """The folders the task's Python looks in before the interpreter's own path, in order;
    None for one known only at run time."""
    from .values import as_str_map

    folder = str(Path(file).resolve().parent)
    workdir = merged.get("workdir", doc.get("workdir"))
    if workdir is None:
        cwd: str | None = folder
    else:
        cwd = os.path.normpath(os.path.join(folder, workdir)) if _plain(workdir) is not None else None
    path: list[str | None] = [folder, cwd]
    env = {**as_str_map(doc.get("env")), **as_str_map(merged.get("env"))}
    pythonpath = os.environ.get("PYTHONPATH")
    dotenv = Path(folder) / doc["dotenv"] if isinstance(doc.get("dotenv"), str) else None
    if pythonpath is None and dotenv is not None and _mentions(dotenv, b"PYTHONPATH"):
        from ..envfile import read_dotenv

        try:
            pythonpath = read_dotenv(dotenv).get("PYTHONPATH")
        except Exception:
            return path + [None]
    pythonpath = env.get("PYTHONPATH", pythonpath)
    if pythonpath and not _plain(pythonpath):
        return path + [None]
    for entry in (pythonpath or "").split(os.pathsep):
        if entry:
            path.append(os.path.normpath(os.path.join(cwd, entry)) if cwd else
                        entry if os.path.isabs(entry) else None)
    return path + [None] * any(name in env for name in _SITE)      # installed elsewhere: not known here


def _mentions(file: Path, word: bytes) -> bool:
    try:
        return word in file.read_bytes()
    except OSError:
        return False


def interpreter_path() -> list[str]:
    """pipe's own sys.path without its script's folder and its own PYTHONPATH (the task's
    PYTHONPATH stands in task_path instead)."""
    own = {os.path.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p}
    start = 0 if getattr(sys.flags, "safe_path", False) else 1
    return [p for p in sys.path[start:] if os.path.abspath(p or ".") not in own]


def _names_in(folders) -> list[str]:
    """The module names a folder offers (for "did you mean")."""
    names = set()
    for folder in folders:
        try:
            entries = os.listdir(folder)
        except (OSError, TypeError):
            continue
        for entry in entries:
            stem = entry[:-3] if entry.endswith(".py") else entry
            if stem.isidentifier() and (entry.endswith(".py") or os.path.isdir(os.path.join(folder, entry))):
                names.add(stem)
    return sorted(names)


def find_module(module: str, path: list[str | None], read: set[str]) -> tuple[str, str] | str | None:
    """The module's source file as ("file", path) or ("namespace", folder); a str saying why
    it certainly cannot be imported; UNKNOWN when that cannot be known from the files."""
    top, *rest = module.split(".")
    if top in sys.stdlib_module_names or top in sys.builtin_module_names:
        return UNKNOWN                     # the runner may have imported its own copy first
    folder = path[0]
    if None in path:                       # only what comes before the unknown folder is certain
        spec = importlib.machinery.PathFinder.find_spec(top, path[:path.index(None)])
        if spec is None or spec.origin is None:
            return UNKNOWN
    else:
        spec = importlib.machinery.PathFinder.find_spec(top, path + interpreter_path())
    if spec is None:
        for finder in sys.meta_path:       # import hooks (editable installs); finding imports nothing
            if not isinstance(finder, type) and hasattr(finder, "find_spec"):
                try:
                    if finder.find_spec(top, None) is not None:
                        return UNKNOWN
                except Exception:
                    return UNKNOWN
        close = difflib.get_close_matches(top, _names_in([folder]), n=1)
        return (f"cannot find module {module!r}: expected {top}.py or a package {top}/ in the pipeline's "
                f"folder {_shown(folder)}/, or a module installed for {sys.executable}"
                + (f"; did you mean {close[0]!r}?" if close else ""))
    name = top
    for part in rest:
        locations = list(spec.submodule_search_locations or ())
        if not locations:
            return UNKNOWN if not _is_source(spec) else (
                f"{name!r} is a module ({_shown(spec.origin)}), not a package, so it has no module {part!r}")
        if _is_source(spec):                       # importing name.part runs name's __init__ first
            tree = parse(spec.origin, read)
            if isinstance(tree, SyntaxError):
                return syntax_error(name, spec.origin, tree)
            if tree is None or _dynamic_package(tree):
                return UNKNOWN
        name = f"{name}.{part}"
        spec = importlib.machinery.PathFinder.find_spec(name, locations)
        if spec is None:
            close = difflib.get_close_matches(part, _names_in(locations), n=1)
            package = name.rpartition(".")[0]
            return (f"cannot find module {module!r}: the package {package} ({_shown(locations[0])}/) has no "
                    f"{part}.py nor {part}/" + (f"; did you mean '{package}.{close[0]}'?" if close else ""))
    if _is_source(spec):
        return ("file", spec.origin)
    if spec.origin is None and spec.submodule_search_locations:
        return ("namespace", list(spec.submodule_search_locations)[0])
    return UNKNOWN


def _is_source(spec) -> bool:
    return isinstance(spec.loader, importlib.machinery.SourceFileLoader) and str(spec.origin).endswith(".py")


def _dynamic_package(tree: ast.Module) -> bool:
    """An __init__ that changes its `__path__` or `sys.modules`: its submodules are not
    found by looking at files."""
    return any(isinstance(n, ast.Name) and n.id == "__path__" or isinstance(n, ast.Attribute) and n.attr == "modules"
               for n in ast.walk(tree))


def syntax_error(module: str, origin: str, error: SyntaxError) -> str:
    line = f":{error.lineno}" if error.lineno else ""
    return f"{module} ({_shown(origin)}{line}) cannot be imported: {error.msg}"


_TREES: dict[tuple, ast.Module | SyntaxError | None] = {}


def parse(file: str, read: set[str]) -> ast.Module | SyntaxError | None:
    """The module's syntax tree, its SyntaxError, or None when it cannot be read (parsed
    once per content: a long-lived process sees an edited file anew); `read` collects the
    files the verdict depends on."""
    read.add(file)
    try:
        st = os.stat(file)
        key = (file, st.st_mtime_ns, st.st_size)
        if key not in _TREES:
            for old in [k for k in _TREES if k[0] == file]:
                del _TREES[old]            # an edited file: its older tree is not needed again
            _TREES[key] = ast.parse(Path(file).read_bytes(), filename=file)
    except SyntaxError as e:
        _TREES[key] = e
    except (OSError, ValueError):
        return None
    return _TREES[key]


def _binds(node) -> list[str]:
    """The names a node can bind, in any scope (counting a local as a binding only makes
    the check accept more)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.Name):
        return [] if isinstance(node.ctx, ast.Load) else [node.id]
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return [(a.asname or a.name).partition(".")[0] for a in node.names]
    if isinstance(node, (ast.Global, ast.Nonlocal)):
        return list(node.names)
    if isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)):
        return [node.name] if node.name else []
    if isinstance(node, ast.MatchMapping):
        return [node.rest] if node.rest else []
    return []


def _makes_names(node, tree: ast.Module) -> bool:
    """Whether a node can give the module names at run time that no statement binds."""
    if isinstance(node, ast.Name):
        return node.id in _DYNAMIC
    if isinstance(node, ast.Attribute):
        return node.attr in ("modules", "__dict__")          # sys.modules[__name__], module.__dict__
    if isinstance(node, ast.ImportFrom):
        return any(a.name == "*" for a in node.names)
    return isinstance(node, ast.FunctionDef) and node.name == "__getattr__" and node in tree.body


def _index(tree: ast.Module) -> tuple[bool, dict[str, list]]:
    """One walk of a module, kept on its tree: whether it can make names at run time, and
    each name's bindings."""
    if not hasattr(tree, "pipe_index"):
        dynamic, binds = False, {}
        for node in ast.walk(tree):
            dynamic = dynamic or _makes_names(node, tree)
            for name in _binds(node):
                binds.setdefault(name, []).append(node)
        tree.pipe_index = (dynamic, binds)
    return tree.pipe_index


def definition(tree: ast.Module, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | str | None:
    """The function `name` when one plain top-level `def` is the only thing that binds it
    and nothing can rebind it at run time; a str when nothing in the module can bind it;
    UNKNOWN otherwise."""
    dynamic, bindings = _index(tree)
    if dynamic:
        return UNKNOWN
    binds = bindings.get(name, [])
    if not binds:
        defined = sorted({n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                      ast.ClassDef)) and n.name[:1] != "_"})
        close = difflib.get_close_matches(name, defined, n=1)
        return (f"has no function {name!r} (it defines: {', '.join(defined) or 'no functions'})"
                + (f"; did you mean {close[0]!r}?" if close else ""))
    fn = binds[0]
    plain = isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) and not fn.decorator_list
    return fn if len(binds) == 1 and plain and fn in tree.body else UNKNOWN


def call_problems(args: ast.arguments, given: list[str]) -> list[tuple[str | None, str]]:
    """Why calling the function by keyword with these names (as the Python task runner does, adding
    `context` when it has a parameter of that name) fails: the `with:` key at fault (None
    for a missing argument) and the reason. Empty when it fits."""
    posonly = [a.arg for a in args.posonlyargs]
    named = [a.arg for a in args.args + args.kwonlyargs]
    positional = posonly + [a.arg for a in args.args]
    required = positional[:len(positional) - len(args.defaults)]
    required += [a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is None]
    problems: list[tuple[str | None, str]] = []
    meant = set(given)                  # a misspelt key is not also reported as a missing argument
    for key in given:
        if key in posonly:           # refused by the runner's signature.bind even beside **kwargs
            problems.append((key, f"{key!r} is positional-only, and pipe passes every argument by name"))
            continue
        if key in named or args.kwarg is not None:
            continue
        close = difflib.get_close_matches(key, named, n=1)
        meant.update(close)
        problems.append((key, f"{key!r} is not one of its parameters" + (f"; did you mean {close[0]!r}?" if close
                                                                          else "")))
    missing = [n for n in required if n not in posonly and n not in meant and n != "context"]
    if missing:
        problems.append((None, f"`with:` does not give {', '.join(map(repr, missing))}, which "
                               f"{'has' if len(missing) == 1 else 'have'} no default"))
    unreachable = [n for n in posonly if n not in given and (n in required or n == "context")]
    if unreachable:
        problems.append((None, f"{', '.join(map(repr, unreachable))} {'is' if len(unreachable) == 1 else 'are'} "
                               "positional-only, and pipe passes every argument by name"))
    return problems


def _shown(path: str) -> str:
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def problems(file: str, doc: dict, read: set[str] | None = None) -> list[tuple[list, str, bool]]:
    """Every Python task's module, function and `with:`: (where, message, at the key).
    `read` collects the source files read (see stamps)."""
    from .values import defaults_of, merged_task, tasks_of

    read = set() if read is None else read
    found: list[tuple[list, str, bool]] = []
    defaults = defaults_of(doc)
    for tid, task in tasks_of(doc).items():
        entry = task.get("python")
        module, _, function = entry.partition(":") if isinstance(entry, str) else ("", "", "")
        if "run" in task or not function.isidentifier() or not all(p.isidentifier() for p in module.split(".")):
            continue                       # not one entrypoint: the schema and check_commands say so
        if function.startswith("__"):
            continue                       # __name__, __loader__...: every module has some
        at = ["tasks", tid, "python"]
        merged = merged_task(defaults, task)
        where = find_module(module, task_path(file, doc, merged), read)
        if isinstance(where, str):
            found.append((at, f"tasks.{tid}.python: {where}", False))
            continue
        if where is UNKNOWN:
            continue
        kind, origin = where
        if kind == "namespace":
            found.append((at, f"tasks.{tid}.python: {module} is a folder without __init__.py "
                              f"({_shown(origin)}), so it has no function {function!r}", False))
            continue
        tree = parse(origin, read)
        if isinstance(tree, SyntaxError):
            found.append((at, f"tasks.{tid}.python: {syntax_error(module, origin, tree)}", False))
            continue
        fn = definition(tree, function) if tree is not None else UNKNOWN
        if isinstance(fn, str):
            found.append((at, f"tasks.{tid}.python: module {module} ({_shown(origin)}) {fn}", False))
            continue
        if fn is UNKNOWN:
            continue
        shown = f"{entry}({ast.unparse(fn.args)}) at {_shown(origin)}:{fn.lineno}"
        if isinstance(fn, ast.AsyncFunctionDef):
            found.append((at, f"tasks.{tid}.python: {shown} is `async def`; pipe calls it and expects a "
                              "dict or None back: write a plain `def` (it may call asyncio.run)", False))
            continue
        with_ = merged.get("with") if isinstance(merged.get("with"), dict) else {}
        with_at = ["tasks", tid, "with"] if "with" in task else ["defaults", "with"]
        for key, why in call_problems(fn.args, list(with_)):
            if key is not None:
                found.append((with_at + [key], f"{'.'.join(with_at)}.{key}: {shown}: {why}", True))
            else:
                found.append((with_at if with_ else at, f"tasks.{tid}: {shown}: {why}", False))
    return found



def stamps(files: set[str]) -> list[list]:
    """What the verdict on a pipeline's entrypoints depends on: [path, mtime_ns, size] of
    each source file read (kept with the validated document in the cache)."""
    out = []
    for f in sorted(files):
        try:
            st = os.stat(f)
            out.append([f, st.st_mtime_ns, st.st_size])
        except OSError:
            out.append([f, None, None])
    return out
