#!/usr/bin/env bash
# The main job: a synthetic fluoroscopy sequence published as a ROS image topic at 15 fps, the
# guidewire_seg node with the shipped default model, and a recorder of its outputs; prints FPS,
# latency, drops, F1 and centreline/tip errors and writes an overlay strip and video to out/demo/.
# Extra arguments go to guidewire_seg_ros.tools.demo (see --help).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
# shellcheck disable=SC1091
. "$root/scripts/env.sh"
cd "$root"
exec python -m guidewire_seg_ros.tools.demo "$@"
