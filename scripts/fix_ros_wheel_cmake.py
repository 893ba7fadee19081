"""Point the ROS 2 wheels' CMake exports at this interpreter's Python and numpy include folders.

The PyPI wheels are built in a manylinux container, and their ``*__rosidl_generator_pyExport.cmake``
files keep that container's include paths (``/opt/python/cp3XX-cp3XX/...``). CMake refuses imported
targets with missing include folders, so generating our own Python message bindings fails until the
paths name folders that exist here.
"""

from __future__ import annotations

import re
import sys
import sysconfig
from pathlib import Path

import numpy


def main(venv: str) -> int:
    py_inc = sysconfig.get_paths()["include"]
    np_inc = numpy.get_include()
    fixed = 0
    for path in Path(venv, "share").glob("*/cmake/*__rosidl_generator_pyExport.cmake"):
        text = path.read_text()
        new = re.sub(r"/opt/python/[^;\"]*/include/python3\.\d+", py_inc, text)
        new = re.sub(r"/opt/python/[^;\"]*/numpy/_core/include", np_inc, new)
        if new != text:
            path.write_text(new)
            fixed += 1
    print(f"[setup] pointed {fixed} ROS wheel CMake export(s) at {py_inc} and {np_inc}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
