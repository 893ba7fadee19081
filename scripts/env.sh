# Source this file (bash): the ONE place that sets the environment every project command runs in.
# README commands, .ci/run, the scripts and test/conftest.py all take their settings from here.

# DDS discovery must never multicast off this machine. Kilted ignores ROS_LOCALHOST_ONLY; this is the
# setting it honours. A robot deployment that needs other hosts overrides it deliberately.
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
export RMW_IMPLEMENTATION="${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}"
# A domain of our own so a demo never meets another ROS graph on this host; tests pick their own.
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-42}"

GUIDEWIRE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export GUIDEWIRE_ROOT
# The venv lives outside the source tree: CMake refuses to export include folders (numpy's, inside
# the venv) that lie under the package's source folder. One venv per checkout, keyed by its path.
_gw_key="$(printf '%s' "$GUIDEWIRE_ROOT" | sha256sum | cut -c1-12)"
export GUIDEWIRE_VENV="${GUIDEWIRE_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/guidewire_seg/venv-$_gw_key}"
unset _gw_key
export GUIDEWIRE_CONFIG_DIR="$GUIDEWIRE_ROOT/config"
# Full-size frames need a larger Fast DDS shared-memory segment than the 512 KiB default, or best-effort
# frames are overwritten in transit (see the file's comment). Transports only; discovery is set above.
export FASTDDS_DEFAULT_PROFILES_FILE="${FASTDDS_DEFAULT_PROFILES_FILE:-$GUIDEWIRE_CONFIG_DIR/fastdds_large_frames.xml}"

if [ -f "$GUIDEWIRE_VENV/bin/activate" ]; then
  # shellcheck disable=SC1091
  . "$GUIDEWIRE_VENV/bin/activate"
  # The venv itself is the ament prefix holding the ROS 2 wheels' share/ and lib/ folders.
  export AMENT_PREFIX_PATH="$GUIDEWIRE_VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
fi
if [ -f "$GUIDEWIRE_ROOT/install/setup.bash" ]; then
  # setup.bash trips over `set -u`; relax it just for the source.
  case $- in *u*) _gw_u=1; set +u;; *) _gw_u=0;; esac
  # shellcheck disable=SC1091
  . "$GUIDEWIRE_ROOT/install/setup.bash"
  [ "$_gw_u" = 1 ] && set -u
  unset _gw_u
fi
