# shellcheck shell=bash source-path=SCRIPTDIR
# Shared settings and helpers for test/env/up, test/env/down and test/env/build.
# Sourced, never executed.

ENV_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO_ROOT="$(cd "${ENV_DIR}/../.." && pwd)"
STATE_DIR="${REPO_ROOT}/.test-env"
LOG_DIR="${STATE_DIR}/logs"
PID_DIR="${STATE_DIR}/pids"

# shellcheck source=../versions.env
source "${ENV_DIR}/versions.env"

# Bump when the build recipe changes in a way that must invalidate old builds.
BUILD_RECIPE=3

# Hash of what the builds depend on (toolchain and Go component versions, not
# ports or Debian package versions), naming the cache directory.
versions_hash() {
  {
    grep -E '^(GO_TOOLCHAIN|K8S_VERSION|ETCD_VERSION|KWOK_VERSION|MINIO_VERSION)=' "${ENV_DIR}/versions.env"
    echo "recipe=${BUILD_RECIPE}"
  } | sha256sum | cut -c1-12
}

# shellcheck disable=SC2034 # used by the scripts that source this file
CACHE_ROOT="${XDG_CACHE_HOME:-${HOME}/.cache}/knative-lambda/test-env"
CACHE_DIR="${CACHE_ROOT}/$(versions_hash)"
# shellcheck disable=SC2034
BIN_DIR="${CACHE_DIR}/bin"

# Node 24 from the project's node_modules comes first; a fresh machine may
# only have an older system Node.
export PATH="${REPO_ROOT}/node_modules/.bin:${PATH}"

if [[ -t 1 ]]; then
  _C_BOLD=$'\033[1m'; _C_DIM=$'\033[2m'; _C_RED=$'\033[31m'; _C_GREEN=$'\033[32m'; _C_YELLOW=$'\033[33m'; _C_OFF=$'\033[0m'
else
  _C_BOLD=''; _C_DIM=''; _C_RED=''; _C_GREEN=''; _C_YELLOW=''; _C_OFF=''
fi

# Elapsed time is counted from the first script of a run (up runs build as a
# child process; both print the same clock).
: "${TEST_ENV_T0:=$(date +%s)}"
export TEST_ENV_T0
_elapsed() { printf '%4ds' "$(($(date +%s) - TEST_ENV_T0))"; }
step() { printf '%s[%s] %s%s\n' "${_C_BOLD}" "$(_elapsed)" "$*" "${_C_OFF}"; }
info() { printf '%s[%s]   %s%s\n' "${_C_DIM}" "$(_elapsed)" "$*" "${_C_OFF}"; }
ok() { printf '%s[%s]   ok: %s%s\n' "${_C_GREEN}" "$(_elapsed)" "$*" "${_C_OFF}"; }
warn() { printf '%s[%s]   warning: %s%s\n' "${_C_YELLOW}" "$(_elapsed)" "$*" "${_C_OFF}" >&2; }
die() { printf '%s[%s] error: %s%s\n' "${_C_RED}" "$(_elapsed)" "$*" "${_C_OFF}" >&2; exit 1; }

# The Go command: the one on PATH, else the usual install location.
go_bin() {
  if command -v go >/dev/null 2>&1; then command -v go
  elif [[ -x /usr/local/go/bin/go ]]; then echo /usr/local/go/bin/go
  else die "no Go toolchain found (need go on PATH or /usr/local/go/bin/go); install Go >= 1.21, it fetches ${GO_TOOLCHAIN} itself"
  fi
}

# Run go at low priority with the pinned toolchain (fetched from the Go module
# proxy when the machine's Go differs).
run_go() {
  GOTOOLCHAIN="${GO_TOOLCHAIN}" GOFLAGS="-buildvcs=false -mod=mod" CGO_ENABLED=0 \
    nice -n 10 "$(go_bin)" "$@"
}

# apt_lock / apt_unlock: hold this checkout's apt lock around package
# installs (policy-rc.d included), so the test environment's and the image
# tier's set-ups, started side by side by CI, take turns instead of failing on
# dpkg's own lock or removing each other's policy-rc.d.
apt_lock() {
  mkdir -p "${STATE_DIR}"
  exec 7>"${STATE_DIR}/apt.lock"
  flock 7
}
apt_unlock() {
  flock -u 7
  exec 7>&-
}

# is_running NAME: the process recorded in .test-env/pids/NAME.pid is alive
# (and, where /proc exists, still runs the command start_bg started, so a
# recycled pid is not mistaken for it).
is_running() {
  local pidfile="${PID_DIR}/$1.pid" pid cmd
  [[ -f "${pidfile}" ]] || return 1
  pid="$(head -n1 "${pidfile}")"
  cmd="$(sed -n 2p "${pidfile}")"
  [[ -n "${pid}" ]] && kill -0 "${pid}" 2>/dev/null || return 1
  if [[ -n "${cmd}" && -r "/proc/${pid}/cmdline" ]]; then
    tr '\0' '\n' <"/proc/${pid}/cmdline" | grep -qxF -- "${cmd}" || return 1
  fi
}

# port_open PORT: something listens on 127.0.0.1:PORT.
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# wait_for DESCRIPTION TIMEOUT_SECONDS LOGNAME COMMAND...: poll COMMAND until it
# succeeds; on timeout print the end of the component's log and fail.
wait_for() {
  local what="$1" timeout="$2" logname="$3"
  shift 3
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      warn "${what} not ready after ${timeout}s; last lines of ${LOG_DIR}/${logname}.log:"
      tail -n 30 "${LOG_DIR}/${logname}.log" >&2 || true
      die "${what} did not become ready (full log: ${LOG_DIR}/${logname}.log)"
    fi
    if [[ -n "${logname}" ]] && ! is_running "${logname}"; then
      warn "${logname} exited; last lines of ${LOG_DIR}/${logname}.log:"
      tail -n 30 "${LOG_DIR}/${logname}.log" >&2 || true
      die "${what} failed to start (full log: ${LOG_DIR}/${logname}.log)"
    fi
    sleep 0.5
  done
}

# start_bg NAME COMMAND...: start COMMAND detached, in its own session, logging
# to .test-env/logs/NAME.log and recording its pid.
start_bg() {
  local name="$1"
  shift
  mkdir -p "${LOG_DIR}" "${PID_DIR}"
  {
    printf '==== %s starting at %s\n==== %s\n' "${name}" "$(date -u +%FT%TZ)" "$*"
  } >>"${LOG_DIR}/${name}.log"
  # fd 9 is the lock of test/env/up: the daemons must not keep it.
  setsid "$@" >>"${LOG_DIR}/${name}.log" 2>&1 </dev/null 9>&- &
  local pid=$! i
  printf '%s\n%s\n' "${pid}" "$1" >"${PID_DIR}/${name}.pid"
  # Until the forked shell has exec'd the command, its cmdline is this script's, and
  # is_running would take a busy machine's slow fork for a process that exited.
  for ((i = 0; i < 100; i++)); do
    [[ -r "/proc/${pid}/cmdline" ]] || break
    tr '\0' '\n' <"/proc/${pid}/cmdline" | grep -qxF -- "$1" && break
    sleep 0.05
  done
}

# signal_bg NAME SIGNAL: send SIGNAL to a process started by start_bg, if alive.
signal_bg() {
  local pidfile="${PID_DIR}/$1.pid" pid
  is_running "$1" || return 0
  pid="$(head -n1 "${pidfile}")"
  if [[ -n "${pid}" ]]; then kill "-$2" "${pid}" 2>/dev/null || true; fi
}

# stop_bg NAME: stop a process started by start_bg (TERM, then KILL).
stop_bg() {
  local name="$1" pidfile="${PID_DIR}/$1.pid" pid i
  [[ -f "${pidfile}" ]] || return 0
  pid="$(head -n1 "${pidfile}")"
  if is_running "${name}"; then
    kill -TERM "${pid}" 2>/dev/null || true
    for ((i = 0; i < 60; i++)); do
      kill -0 "${pid}" 2>/dev/null || break
      sleep 0.25
    done
    if kill -0 "${pid}" 2>/dev/null; then
      warn "${name} (pid ${pid}) ignored TERM; sending KILL"
      kill -KILL "${pid}" 2>/dev/null || true
    fi
    # start_bg made the process a session (and process group) leader: end
    # whatever it left behind in its own group.
    if kill -0 -- "-${pid}" 2>/dev/null; then
      kill -KILL -- "-${pid}" 2>/dev/null || true
    fi
  fi
  info "stopped ${name} (pid ${pid})"
  rm -f "${pidfile}"
}
