#!/usr/bin/env bash
# Throwaway PostgreSQL 15, mosquitto and Redis instances for the demo, the tests and CI.
#
#   deploy/services.sh start|stop|status|restart [postgres|mosquitto|redis|all]   (default: all)
#   deploy/services.sh env       print `export YOLOFLEET_PG=...` / `export YOLOFLEET_MQTT=...` lines
#   deploy/services.sh clean     stop everything and delete the state directory
#
# Environment (defaults in brackets):
#   YOLOFLEET_STATE_DIR   [/tmp/yolofleet-services]  data, sockets, configs, pid and log files
#   YOLOFLEET_PG_PORT     [55432]                     PostgreSQL port on 127.0.0.1
#   YOLOFLEET_MQTT_PORT   [11883]                     mosquitto port on 127.0.0.1
#   YOLOFLEET_REDIS_PORT  [16379]                     Redis port on 127.0.0.1 (Orleans cluster membership, grain state)
#   YOLOFLEET_PG_BIN      [/usr/lib/postgresql/15/bin] PostgreSQL server binaries
#
# Each state directory holds its own instances: a test can start a private broker with
#   YOLOFLEET_STATE_DIR=/tmp/x YOLOFLEET_MQTT_PORT=11999 deploy/services.sh start mosquitto
# and `stop` with the same YOLOFLEET_STATE_DIR stops only that one (through its pid file).
#
# Both services bind 127.0.0.1 only and need no password (PostgreSQL: trust for loopback, user postgres;
# mosquitto: anonymous). They are for development and tests; see deploy/mosquitto/production.conf.
#
# `start` is idempotent (already running = prints the status line). `status` exits 0 when every named
# service runs, 3 otherwise. Missing binaries: run deploy/install-deps.sh.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)

STATE_DIR=${YOLOFLEET_STATE_DIR:-/tmp/yolofleet-services}
case $STATE_DIR in
    /*) ;;
    *) STATE_DIR=$PWD/$STATE_DIR ;;
esac
STATE_DIR=${STATE_DIR%/}
PG_PORT=${YOLOFLEET_PG_PORT:-55432}
MQTT_PORT=${YOLOFLEET_MQTT_PORT:-11883}
HOST=127.0.0.1

PG_DIR=$STATE_DIR/postgres
PG_DATA=$PG_DIR/data
PG_SOCKET_DIR=$PG_DIR/socket
PG_LOG=$PG_DIR/postgres.log

MQTT_DIR=$STATE_DIR/mosquitto
MQTT_CONF=$MQTT_DIR/mosquitto.conf
MQTT_PID=$MQTT_DIR/mosquitto.pid
MQTT_LOG=$MQTT_DIR/mosquitto.log
MQTT_TEMPLATE=$SCRIPT_DIR/mosquitto/mosquitto.conf

REDIS_PORT=${YOLOFLEET_REDIS_PORT:-16379}
REDIS_DIR=$STATE_DIR/redis
REDIS_PID=$REDIS_DIR/redis.pid
REDIS_LOG=$REDIS_DIR/redis.log

# shellcheck source=deploy/lib/common.sh
source "$SCRIPT_DIR/lib/common.sh"

usage() {
    # The comment block at the top of this file.
    awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"
}

make_state_dir() {
    if [[ ! -d $STATE_DIR ]]; then
        mkdir -p "$STATE_DIR"
        chmod 755 "$STATE_DIR"
    fi
}

# ---------------------------------------------------------------------------------------------- PostgreSQL

PG_BIN=${YOLOFLEET_PG_BIN:-}
if [[ -z $PG_BIN ]]; then
    PG_BIN=/usr/lib/postgresql/15/bin
    if [[ ! -x $PG_BIN/pg_ctl ]]; then
        # Another major version, if that is all there is.
        for candidate in /usr/lib/postgresql/*/bin; do
            if [[ -x $candidate/pg_ctl ]]; then PG_BIN=$candidate; fi
        done
    fi
fi

require_pg() {
    local tool
    for tool in initdb pg_ctl postgres; do
        [[ -x $PG_BIN/$tool ]] || die "PostgreSQL binary $PG_BIN/$tool not found: run deploy/install-deps.sh (as root)"
    done
    command -v psql >/dev/null || die "psql not found: run deploy/install-deps.sh (as root)"
    if is_root; then
        id postgres >/dev/null 2>&1 || die "user 'postgres' does not exist: run deploy/install-deps.sh"
        command -v runuser >/dev/null || die "runuser (util-linux) not found"
    fi
}

# pg_ctl status: 0 running, 3 not running, 4 no usable data directory.
pg_running() {
    [[ -f $PG_DATA/postmaster.pid ]] || return 1
    pid_alive "$(pg_pid)" || return 1
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1
}

# postmaster.pid: line 1 pid, line 4 port.
pg_pid() { sed -n 1p "$PG_DATA/postmaster.pid" 2>/dev/null || true; }
pg_actual_port() { sed -n 4p "$PG_DATA/postmaster.pid" 2>/dev/null || true; }

pg_status_line() {
    if pg_running; then
        local port
        port=$(pg_actual_port)
        echo "postgres: running on $HOST:${port:-?} (pid $(pg_pid), data $PG_DATA, log $PG_LOG)"
        if [[ -n $port && $port != "$PG_PORT" ]]; then
            echo "postgres: WARNING: running on port $port, not YOLOFLEET_PG_PORT=$PG_PORT; restart it to change" >&2
        fi
        return 0
    fi
    echo "postgres: stopped (data $PG_DATA)"
    return 3
}

pg_write_config() {
    # Regenerated on every start so that a changed port or state directory takes effect.
    local conf=$PG_DATA/yolofleet.conf
    cat >"$conf" <<EOF
# Written by deploy/services.sh on every start; edits are lost.
port = $PG_PORT
listen_addresses = '$HOST'
unix_socket_directories = '$PG_SOCKET_DIR'
unix_socket_permissions = 0777
max_connections = 200
# A commit the cloud confirms to a device is what lets the device delete the message: it must be on disk
# (synchronous_commit off lost a confirmed frame when the fault tests stopped PostgreSQL with -m immediate).
synchronous_commit = on
fsync = on
full_page_writes = on
shared_buffers = 128MB
timezone = 'UTC'
log_timezone = 'UTC'
log_line_prefix = '%m [%p] %q%u@%d '
log_min_duration_statement = -1
EOF
    if is_root; then chown postgres: "$conf"; fi
    cat >"$PG_DATA/pg_hba.conf" <<'EOF'
# Written by deploy/services.sh: trust on the socket and on loopback only (development/test instance).
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 trust
host    all       all   127.0.0.1/32  trust
host    all       all   ::1/128       trust
EOF
    if is_root; then chown postgres: "$PG_DATA/pg_hba.conf"; fi
    grep -q "^include_if_exists = 'yolofleet.conf'" "$PG_DATA/postgresql.conf" ||
        echo "include_if_exists = 'yolofleet.conf'" >>"$PG_DATA/postgresql.conf"
}

pg_start() {
    require_pg
    if pg_running; then
        pg_status_line
        return 0
    fi
    make_state_dir
    # Unix socket paths are limited to 107 bytes.
    local socket_path=$PG_SOCKET_DIR/.s.PGSQL.$PG_PORT
    ((${#socket_path} <= 100)) || die "state directory path too long for a Unix socket ($socket_path); set a shorter YOLOFLEET_STATE_DIR"
    if port_open "$PG_PORT"; then
        die "postgres: cannot start: something else already listens on $HOST:$PG_PORT (set YOLOFLEET_PG_PORT)"
    fi

    mkdir -p "$PG_DIR" "$PG_SOCKET_DIR"
    chmod 755 "$PG_DIR"
    chmod 777 "$PG_SOCKET_DIR"
    if is_root; then
        chown postgres: "$PG_DIR" "$PG_SOCKET_DIR"
        runuser -u postgres -- test -x "$PG_DIR" ||
            die "postgres: the user 'postgres' cannot reach $PG_DIR (a parent directory is not searchable); choose another YOLOFLEET_STATE_DIR"
    fi

    if [[ ! -s $PG_DATA/PG_VERSION ]]; then
        # No cluster (or a half-made one): make a fresh one.
        rm -rf "$PG_DATA"
        echo "postgres: initdb $PG_DATA"
        if ! as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -A trust --encoding=UTF8 --no-locale \
            >"$PG_DIR/initdb.log" 2>&1; then
            log_tail "$PG_DIR/initdb.log"
            die "postgres: initdb failed"
        fi
    fi
    pg_write_config
    # Lock files left by a server that was killed. postgres removes them itself when their pid is gone, but
    # not while that pid is an unreaped zombie (containers whose PID 1 does not reap promptly).
    local lock pid
    for lock in "$PG_DATA/postmaster.pid" "$PG_SOCKET_DIR/.s.PGSQL.$PG_PORT.lock"; do
        [[ -f $lock ]] || continue
        pid=$(sed -n 1p "$lock" 2>/dev/null | tr -dc '0-9')
        if ! pid_alive "$pid"; then
            echo "postgres: removing stale $(basename "$lock") (pid ${pid:-?} is gone)"
            rm -f "$lock"
            if [[ $lock == *.lock ]]; then rm -f "${lock%.lock}"; fi
        fi
    done

    # The log must be writable by the server's user.
    as_pg touch "$PG_LOG"
    if ! as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 start >/dev/null 2>"$PG_DIR/pg_ctl.err"; then
        cat "$PG_DIR/pg_ctl.err" >&2 || true
        log_tail "$PG_LOG"
        die "postgres: failed to start"
    fi
    # Make sure it answers on TCP, as the clients will use it.
    local i
    for i in $(seq 1 50); do
        if "$PG_BIN/pg_isready" -q -h "$HOST" -p "$PG_PORT" -U postgres 2>/dev/null || port_open "$PG_PORT"; then
            break
        fi
        if ((i == 50)); then
            log_tail "$PG_LOG"
            die "postgres: started but does not answer on $HOST:$PG_PORT"
        fi
        sleep 0.2
    done
    pg_status_line
}

pg_stop() {
    if [[ ! -d $PG_DATA ]] || ! pg_running; then
        echo "postgres: stopped (data $PG_DATA)"
        return 0
    fi
    require_pg
    if ! as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null 2>"$PG_DIR/pg_ctl.err"; then
        cat "$PG_DIR/pg_ctl.err" >&2 || true
        log_tail "$PG_LOG"
        die "postgres: failed to stop"
    fi
    echo "postgres: stopped (data $PG_DATA)"
}

# ----------------------------------------------------------------------------------------------- mosquitto

MOSQUITTO=${YOLOFLEET_MOSQUITTO:-}
if [[ -z $MOSQUITTO ]]; then
    MOSQUITTO=$(command -v mosquitto || true)
    # /usr/sbin is not on every user's PATH.
    if [[ -z $MOSQUITTO && -x /usr/sbin/mosquitto ]]; then MOSQUITTO=/usr/sbin/mosquitto; fi
fi

require_mosquitto() {
    [[ -n $MOSQUITTO && -x $MOSQUITTO ]] || die "mosquitto not found: run deploy/install-deps.sh (as root)"
    [[ -f $MQTT_TEMPLATE ]] || die "missing config template $MQTT_TEMPLATE"
}

# The pid from this state directory's pid file, if that process is alive and is a mosquitto.
mqtt_pid() {
    local pid
    [[ -f $MQTT_PID ]] || return 1
    pid=$(tr -dc '0-9' <"$MQTT_PID")
    pid_alive "$pid" || return 1
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == mosquitto ]] || return 1
    echo "$pid"
}

mqtt_actual_port() {
    sed -n 's/^listener \([0-9]*\) .*/\1/p' "$MQTT_CONF" 2>/dev/null | head -n 1
}

mqtt_status_line() {
    local pid port
    if pid=$(mqtt_pid); then
        port=$(mqtt_actual_port)
        echo "mosquitto: running on $HOST:${port:-?} (pid $pid, config $MQTT_CONF, log $MQTT_LOG)"
        if [[ -n $port && $port != "$MQTT_PORT" ]]; then
            echo "mosquitto: WARNING: running on port $port, not YOLOFLEET_MQTT_PORT=$MQTT_PORT; restart it to change" >&2
        fi
        return 0
    fi
    echo "mosquitto: stopped (state $MQTT_DIR)"
    return 3
}

# sed replacement text with \, & and the | delimiter escaped.
sed_escape() {
    printf '%s' "$1" | sed -e 's/[\\&|]/\\&/g'
}

mqtt_start() {
    require_mosquitto
    if mqtt_pid >/dev/null; then
        mqtt_status_line
        return 0
    fi
    make_state_dir
    if port_open "$MQTT_PORT"; then
        die "mosquitto: cannot start: something else already listens on $HOST:$MQTT_PORT (set YOLOFLEET_MQTT_PORT)"
    fi
    mkdir -p "$MQTT_DIR"
    chmod 755 "$MQTT_DIR"
    rm -f "$MQTT_PID"
    : >"$MQTT_LOG"
    sed -e "s|@MQTT_PORT@|$MQTT_PORT|g" \
        -e "s|@PID_FILE@|$(sed_escape "$MQTT_PID")|g" \
        -e "s|@LOG_FILE@|$(sed_escape "$MQTT_LOG")|g" \
        "$MQTT_TEMPLATE" >"$MQTT_CONF"
    if is_root; then
        # As root, mosquitto drops to the "mosquitto" user before writing its pid and log files.
        if id mosquitto >/dev/null 2>&1; then
            chown mosquitto: "$MQTT_DIR" "$MQTT_LOG"
            runuser -u mosquitto -- test -w "$MQTT_DIR" ||
                die "mosquitto: the user 'mosquitto' cannot write $MQTT_DIR (a parent directory is not searchable); choose another YOLOFLEET_STATE_DIR"
        else
            printf '\n# No "mosquitto" user on this machine.\nuser root\n' >>"$MQTT_CONF"
        fi
    fi

    if ! "$MOSQUITTO" -c "$MQTT_CONF" -d 2>"$MQTT_DIR/start.err"; then
        cat "$MQTT_DIR/start.err" >&2 || true
        log_tail "$MQTT_LOG"
        die "mosquitto: failed to start"
    fi
    local i
    for i in $(seq 1 50); do
        if mqtt_pid >/dev/null && port_open "$MQTT_PORT"; then
            break
        fi
        if ((i == 50)); then
            cat "$MQTT_DIR/start.err" >&2 || true
            log_tail "$MQTT_LOG"
            die "mosquitto: did not come up on $HOST:$MQTT_PORT"
        fi
        sleep 0.1
    done
    mqtt_status_line
}

mqtt_stop() {
    local pid i
    if ! pid=$(mqtt_pid); then
        rm -f "$MQTT_PID" 2>/dev/null || true
        echo "mosquitto: stopped (state $MQTT_DIR)"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do
        pid_alive "$pid" || break
        if ((i == 100)); then
            echo "mosquitto: pid $pid ignored SIGTERM for 10 s; sending SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.2
        fi
        sleep 0.1
    done
    rm -f "$MQTT_PID" 2>/dev/null || true
    echo "mosquitto: stopped (state $MQTT_DIR)"
}

# ---------------------------------------------------------------------------------------------------- redis

REDIS_SERVER=$(command -v redis-server || true)

redis_pid() {
    [[ -f $REDIS_PID ]] || return 1
    local pid
    pid=$(cat "$REDIS_PID" 2>/dev/null) || return 1
    pid_alive "$pid" || return 1
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == redis-server* ]] || return 1
    echo "$pid"
}

redis_status_line() {
    local pid
    if pid=$(redis_pid); then
        echo "redis: running on $HOST:$REDIS_PORT (pid $pid, data $REDIS_DIR, log $REDIS_LOG)"
        return 0
    fi
    echo "redis: stopped (state $REDIS_DIR)"
    return 1
}

redis_start() {
    [[ -n $REDIS_SERVER && -x $REDIS_SERVER ]] || die "redis-server not found: run deploy/install-deps.sh (as root)"
    if redis_pid >/dev/null; then
        redis_status_line
        return 0
    fi
    if port_open "$REDIS_PORT"; then
        die "redis: cannot start: something else already listens on $HOST:$REDIS_PORT (set YOLOFLEET_REDIS_PORT)"
    fi
    mkdir -p "$REDIS_DIR"
    # Append-only persistence: membership and grain state survive a restart of this instance.
    "$REDIS_SERVER" --bind "$HOST" --port "$REDIS_PORT" --dir "$REDIS_DIR" --daemonize yes \
        --pidfile "$REDIS_PID" --logfile "$REDIS_LOG" --appendonly yes --save "" --protected-mode yes >/dev/null ||
        { log_tail "$REDIS_LOG"; die "redis: failed to start"; }
    local i
    for ((i = 0; i < 100; i++)); do
        if port_open "$REDIS_PORT" && redis_pid >/dev/null; then
            redis_status_line
            return 0
        fi
        sleep 0.1
    done
    log_tail "$REDIS_LOG"
    die "redis: did not come up on $HOST:$REDIS_PORT"
}

redis_stop() {
    local pid
    if ! pid=$(redis_pid); then
        echo "redis: stopped (state $REDIS_DIR)"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 100; i++)); do
        pid_alive "$pid" || break
        sleep 0.1
    done
    if pid_alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
    rm -f "$REDIS_PID"
    echo "redis: stopped (state $REDIS_DIR)"
}

# ------------------------------------------------------------------------------------------------------ main

print_env() {
    echo "export YOLOFLEET_PG=\"Host=$HOST;Port=$PG_PORT;Username=postgres;Database=postgres\""
    echo "export YOLOFLEET_MQTT=$HOST:$MQTT_PORT"
    echo "export YOLOFLEET_REDIS=$HOST:$REDIS_PORT"
}

main() {
    local action=${1:-} target=${2:-all}
    check_port YOLOFLEET_PG_PORT "$PG_PORT"
    check_port YOLOFLEET_MQTT_PORT "$MQTT_PORT"
    check_port YOLOFLEET_REDIS_PORT "$REDIS_PORT"
    if [[ $action == env ]]; then
        print_env
        return 0
    fi
    if (($# > 2)); then
        usage >&2
        exit 2
    fi
    case $target in
        postgres | pg | postgresql) target=postgres ;;
        mosquitto | mqtt) target=mosquitto ;;
        redis) target=redis ;;
        all) ;;
        *)
            usage >&2
            die "unknown service '$target' (postgres, mosquitto, redis or all)"
            ;;
    esac

    local want_pg=false want_mqtt=false want_redis=false rc=0
    [[ $target == all || $target == postgres ]] && want_pg=true
    [[ $target == all || $target == mosquitto ]] && want_mqtt=true
    [[ $target == all || $target == redis ]] && want_redis=true

    case $action in
        start)
            if $want_pg; then pg_start; fi
            if $want_mqtt; then mqtt_start; fi
            if $want_redis; then redis_start; fi
            ;;
        stop)
            if $want_redis; then redis_stop; fi
            if $want_mqtt; then mqtt_stop; fi
            if $want_pg; then pg_stop; fi
            ;;
        restart)
            if $want_redis; then redis_stop; fi
            if $want_mqtt; then mqtt_stop; fi
            if $want_pg; then pg_stop; fi
            if $want_pg; then pg_start; fi
            if $want_mqtt; then mqtt_start; fi
            if $want_redis; then redis_start; fi
            ;;
        status)
            if $want_pg; then pg_status_line || rc=3; fi
            if $want_mqtt; then mqtt_status_line || rc=3; fi
            if $want_redis; then redis_status_line || rc=3; fi
            return "$rc"
            ;;
        clean)
            [[ $target == all ]] || die "clean takes no service name"
            redis_stop
            mqtt_stop
            pg_stop
            rm -rf "$STATE_DIR"
            echo "services: removed $STATE_DIR"
            ;;
        -h | --help | help)
            usage
            ;;
        *)
            usage >&2
            exit 2
            ;;
    esac
}

main "$@"
