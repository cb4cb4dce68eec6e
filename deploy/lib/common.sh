# shellcheck shell=bash
# Helpers shared by deploy/services.sh and deploy/topology.sh (sourced, not run). The caller sets HOST.

# The calling script's name, for messages.
SCRIPT_NAME=$(basename -- "$0")

die() {
    echo "$SCRIPT_NAME: $*" >&2
    exit 1
}

is_root() {
    [[ $(id -u) -eq 0 ]]
}

check_port() { # name value
    if [[ ! $2 =~ ^[0-9]+$ ]] || (($2 < 1 || $2 > 65535)); then
        die "$1 must be a TCP port number, got '$2'"
    fi
}

# True when something accepts TCP connections on $HOST:$1 (bash's /dev/tcp; no ss/nc needed).
port_open() {
    # shellcheck disable=SC2016 # $0 and $1 are expanded by the inner bash.
    timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$HOST" "$1" 2>/dev/null
}

# True when process $1 exists and is not a zombie. (A daemon that died waits as a zombie until PID 1 reaps it,
# which in containers can take a while or never happen; kill -0 alone would call it alive.)
pid_alive() {
    local stat
    [[ $1 =~ ^[0-9]+$ ]] || return 1
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat:0:1} != Z && ${stat:0:1} != X ]]
}

log_tail() { # file
    if [[ -f $1 ]]; then
        echo "---- last 30 lines of $1 ----" >&2
        tail -n 30 "$1" >&2 || true
        echo "----" >&2
    else
        echo "(no log file at $1)" >&2
    fi
}

# Runs a command as the user that owns the PostgreSQL cluster: "postgres" when we are root (initdb and postgres
# refuse to run as root), otherwise ourselves.
as_pg() {
    if is_root; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}
