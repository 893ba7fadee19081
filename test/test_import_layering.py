"""Imports go one way: no import cycle among the project's modules, and no ROS in the offline package.

Every module under ``guidewire_model/`` and ``guidewire_seg_ros/`` is parsed, not imported, and
every import statement in it counts: at module level, inside functions (a deferred import hides a
cycle until the function first runs, as ``bag_eval`` / ``bag_report`` did) and under
``if TYPE_CHECKING:`` (a dependency of the design even when it costs nothing at run time).

``guidewire_model`` is the offline package (training, export, evaluation, the runtime pipeline): it
runs where ROS is not installed, so it imports neither ``rclpy``, nor a ROS message or interface
package, nor ``guidewire_seg_ros``, which sits above it.
"""

from __future__ import annotations

import ast
import textwrap
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("guidewire_model", "guidewire_seg_ros")
OFFLINE_PACKAGE = "guidewire_model"

# Top-level modules that need a ROS installation. ``rosbags`` is not among them: it reads and writes
# bags in pure Python, which is why the offline package uses it. ``guidewire_seg`` is this project's
# own interface package (msg/), built by colcon.
ROS_MODULES = frozenset({
    "rclpy", "rosidl_runtime_py", "rosidl_parser", "rosbag2_py", "rmw", "ament_index_python", "launch",
    "launch_ros", "launch_testing", "message_filters", "cv_bridge", "tf2_ros", "diagnostic_updater",
    "guidewire_seg", "guidewire_seg_ros",
})
ROS_SUFFIXES = ("_msgs", "_srvs", "_interfaces")  # sensor_msgs, lifecycle_msgs, rcl_interfaces, ...

# Import cycles that exist today and are to be removed (issue 9: one-way imports). Each key is the
# exact set of modules of one cycle (a strongly connected component of the import graph); the value
# says why it is there. The test fails when a cycle is not listed here, when a listed one grows,
# and when a listed one is gone (delete its entry then), so the list cannot go stale.
KNOWN_CYCLES: dict[frozenset[str], str] = {}

# guidewire_model's subpackages from the bottom up. A module imports from its own subpackage and
# from those before it, never from one after it, so each layer can be used (and installed) without
# the ones above: the node needs core and runtime only, training adds torch, evaluation adds the rest.
LAYERS = ("core", "runtime", "data", "metrics", "synthetic", "importers", "training", "evaluation", "inference")

# Imports against that order that are deferred on purpose (inside the one function that needs them,
# never at module level), each with its reason. The test fails when one is added, made module-level,
# or removed without deleting its entry.
DEFERRED_UPWARD: dict[tuple[str, str], str] = {
    ("guidewire_model.runtime.backends", "guidewire_model.training.torch_backend"):
        "a .pt checkpoint runs through PyTorch, which the runtime does not import unless such a file is given",
    ("guidewire_model.runtime.backends.engine_parity", "guidewire_model.synthetic"):
        "TensorRT parity frames show wires and crossings; seeded noise is used where the generator is absent",
}


@dataclass(frozen=True)
class Import:
    """One imported name as written in a module: ``target`` is absolute, ``line`` 1-based."""

    source: str
    target: str
    line: int


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _dynamic_import_name(call: ast.Call) -> str | None:
    """The module of ``importlib.import_module("x")`` or ``__import__("x")`` with a literal absolute name."""
    func = call.func
    called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    if called not in ("import_module", "__import__") or not call.args:
        return None
    arg = call.args[0]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and not arg.value.startswith("."):
        return arg.value
    return None


def scan_modules(root: Path, packages: tuple[str, ...]) -> dict[str, tuple[Path, list[Import]]]:
    """Every module of ``packages`` under ``root`` with every import it makes, anywhere in its body.

    Import statements and calls of ``importlib.import_module`` / ``__import__`` with a literal name
    count. Relative imports are made absolute. ``from X import y`` names the module ``X.y`` when that is a
    module of the scan (a submodule), otherwise ``X`` (an attribute of it).
    """
    files = {_module_name(p, root): p for pkg in packages for p in sorted((root / pkg).rglob("*.py"))}
    modules: dict[str, tuple[Path, list[Import]]] = {}
    for name, path in files.items():
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except SyntaxError as exc:
            pytest.fail(f"{path}: cannot be parsed ({exc}); fix the syntax error")
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        imports = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _dynamic_import_name(node):
                imports.append(Import(name, _dynamic_import_name(node), node.lineno))
            elif isinstance(node, ast.Import):
                imports += [Import(name, alias.name, node.lineno) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base_parts = package.split(".")
                    if node.level - 1 >= len(base_parts):
                        pytest.fail(f"{path}:{node.lineno}: relative import goes above the top-level package")
                    base = ".".join(base_parts[:len(base_parts) - (node.level - 1)])
                    base = f"{base}.{node.module}" if node.module else base
                else:
                    base = node.module
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    imports.append(Import(name, sub if sub in files else base, node.lineno))
        modules[name] = (path, imports)
    return modules


def _project_target(target: str, modules) -> str | None:
    """The module of the scan that importing ``target`` names (the longest such prefix), if any."""
    parts = target.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def import_graph(modules) -> dict[str, dict[str, int]]:
    """``graph[a][b]`` = first line at which module ``a`` imports module ``b`` (both of the scan)."""
    graph: dict[str, dict[str, int]] = {name: {} for name in modules}
    for name, (_, imports) in modules.items():
        for imp in imports:
            target = _project_target(imp.target, modules)
            if target is not None and target != name:
                graph[name][target] = min(imp.line, graph[name].get(target, imp.line))
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan), i.e. the import cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def describe_cycle(component: frozenset[str], graph, modules) -> str:
    """One concrete loop through ``component``, each step with the file and line of its import."""
    start = min(component)
    # Shortest path from start back to start inside the component (breadth first).
    parent: dict[str, str] = {}
    queue = deque([start])
    while queue:
        v = queue.popleft()
        for w in sorted(graph[v]):
            if w not in component:
                continue
            if w == start:
                path = [v]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                path.reverse()
                path.append(start)
                return "; ".join(f"{a} -> {b} ({_shown(modules[a][0])}:{graph[a][b]})"
                                 for a, b in zip(path, path[1:]))
            if w not in parent:
                parent[w] = v
                queue.append(w)
    raise AssertionError(f"{sorted(component)} is not a cycle")


def _shown(path: Path) -> Path:
    return path.relative_to(REPO) if path.is_relative_to(REPO) else path


def _is_ros(target: str) -> bool:
    top = target.split(".")[0]
    return top in ROS_MODULES or top.endswith(ROS_SUFFIXES)


@pytest.fixture(scope="module")
def project():
    modules = scan_modules(REPO, PACKAGES)
    return modules, import_graph(modules)


def test_the_scan_finds_cycles_through_function_level_and_relative_imports(tmp_path: Path) -> None:
    """The checker itself: a cycle through a deferred relative import, another through a package's
    ``__init__`` and an import under TYPE_CHECKING, and ROS imports (one by ``importlib``), all found;
    a one-way chain and ``rosbags`` (pure Python) are not."""
    files = {
        "pkg/__init__.py": "from .a import f\n",
        "pkg/a.py": "from . import b\n\ndef f():\n    return b.g()\n",
        "pkg/b.py": "def g():\n    from .c import h\n    return h()\n",
        "pkg/c.py": "import pkg.a\n\ndef h():\n    return 1\n",
        "pkg/sub/__init__.py": "from .d import D\n",
        "pkg/sub/d.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..sub import e\nD = 1\n",
        "pkg/sub/e.py": "from pkg.sub import d\n",
        "pkg/up.py": "from .sub.d import D\nimport numpy\n",
        "pkg/ros.py": ("import importlib\n\ndef spin():\n    import rclpy.node\n"
                       "    from sensor_msgs.msg import Image\n    from rosbags.highlevel import AnyReader\n"
                       "    return importlib.import_module('lifecycle_msgs.msg')\n"),
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(textwrap.dedent(text))
    modules = scan_modules(tmp_path, ("pkg",))
    graph = import_graph(modules)
    assert graph["pkg.up"] == {"pkg.sub.d": 1}
    assert graph["pkg"] == {"pkg.a": 1}
    assert set(cycles(graph)) == {frozenset({"pkg.a", "pkg.b", "pkg.c"}), frozenset({"pkg.sub.d", "pkg.sub.e"})}
    assert describe_cycle(frozenset({"pkg.a", "pkg.b", "pkg.c"}), graph, modules).startswith("pkg.a -> pkg.b (")
    assert [(i.target, i.line) for i in modules["pkg.ros"][1] if _is_ros(i.target)] == [
        ("rclpy.node", 4), ("sensor_msgs.msg", 5), ("lifecycle_msgs.msg", 7)]


def test_no_import_cycles_between_project_modules(project) -> None:
    modules, graph = project
    assert len(modules) > 50 and "guidewire_model.runtime.pipeline" in graph["guidewire_seg_ros.node"], \
        "the scan no longer sees the project's modules"
    found = set(cycles(graph))
    new = [c for c in found if c not in KNOWN_CYCLES]
    fixed = [c for c in KNOWN_CYCLES if c not in found]
    problems = [f"import cycle {sorted(c)}: {describe_cycle(c, graph, modules)}; make the imports one-way "
                "(move the shared part into a module both import)" for c in new]
    problems += [f"{sorted(c)} is no longer a cycle (or its modules changed): update its KNOWN_CYCLES entry "
                 f"in {Path(__file__).name}" for c in fixed]
    assert not problems, "\n".join(problems)


def _module_level_targets(path: Path) -> set[str]:
    """Modules named by the import statements at the top level of ``path`` (not inside a def or class)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in tree.body:
        for sub in ast.walk(node):
            if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                break
            if isinstance(sub, ast.Import):
                found |= {alias.name for alias in sub.names}
            elif isinstance(sub, ast.ImportFrom) and sub.module:
                found |= {sub.module} | {f"{sub.module}.{alias.name}" for alias in sub.names}
    return found


def _layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if parts[0] == OFFLINE_PACKAGE and len(parts) > 1 and parts[1] in LAYERS else None


def test_every_module_of_the_offline_package_is_in_a_layer(project) -> None:
    modules, _ = project
    loose = [name for name in modules if name.split(".")[0] == OFFLINE_PACKAGE and name != OFFLINE_PACKAGE
             and _layer(name) is None]
    assert not loose, f"modules outside the subpackages {LAYERS}: {sorted(loose)}; move each into the layer of its job"


def test_the_offline_package_imports_downward_only(project) -> None:
    modules, graph = project
    upward = {(a, b): line for a, targets in graph.items() for b, line in targets.items()
              if _layer(a) is not None and _layer(b) is not None and _layer(b) > _layer(a)}
    problems = [f"{a} imports {b} ({_shown(modules[a][0])}:{line}): {LAYERS[_layer(a)]} sits below "
                f"{LAYERS[_layer(b)]}; move the shared part down" for (a, b), line in sorted(upward.items())
                if (a, b) not in DEFERRED_UPWARD]
    problems += [f"{a} imports {b} at module level; the import must stay inside the function that needs it"
                 for (a, b) in sorted(upward) if (a, b) in DEFERRED_UPWARD
                 and b in _module_level_targets(modules[a][0])]
    problems += [f"{a} no longer imports {b}: delete its DEFERRED_UPWARD entry in {Path(__file__).name}"
                 for (a, b) in DEFERRED_UPWARD if (a, b) not in upward]
    assert not problems, "\n".join(problems)


def test_the_offline_package_imports_no_ros(project) -> None:
    modules, _ = project
    offenders = [f"{_shown(path)}:{imp.line} imports {imp.target}"
                 for name, (path, imports) in sorted(modules.items())
                 if name.split(".")[0] == OFFLINE_PACKAGE
                 for imp in imports if _is_ros(imp.target)]
    assert not offenders, (f"{OFFLINE_PACKAGE} must run without ROS; move these into guidewire_seg_ros:\n"
                           + "\n".join(offenders))


def test_the_node_never_imports_its_tools(project) -> None:
    # guidewire_seg_ros.tools (demo, recorder, benchmarks, bag replay) sits around the node; a node
    # module that imported one would drag the tools into every robot deployment.
    modules, graph = project
    assert "guidewire_seg_ros.tools.demo" in graph, "the scan no longer sees the tools package"
    offenders = [f"{name} imports {target}" for name, targets in sorted(graph.items())
                 if name.startswith("guidewire_seg_ros.") and not name.startswith("guidewire_seg_ros.tools")
                 for target in targets if target.startswith("guidewire_seg_ros.tools")]
    assert not offenders, "\n".join(offenders)
