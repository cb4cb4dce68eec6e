#!/usr/bin/env bash
# The whole YoloFleet topology as plain processes on one machine (no Docker): the same services as
# docker-compose.yml, with production-like security, for an operator's first fleet and for the Deploy test.
#
#   deploy/topology.sh start     generate missing secrets, start everything, wait until every process is healthy
#   deploy/topology.sh status    each process, its pid and its health; exit 0 when all are healthy, 3 otherwise
#   deploy/topology.sh stop      stop the agents, the silos, then the broker, Redis and PostgreSQL; check none is left
#   deploy/topology.sh env       print `export` lines for the `yolofleet` CLI (database, silo URL, API key file)
#   deploy/topology.sh secrets   only generate the missing secrets (docker-compose.yml uses them with
#                                YOLOFLEET_TOPOLOGY_DIR=.state/compose YOLOFLEET_SECRETS_UID=10001, its containers' user)
#
# What runs (127.0.0.1 only):
#   postgres     its own cluster, password authentication (scram-sha-256) for every connection
#   redis        Orleans cluster membership, password required
#   mosquitto    persistence on disk, no anonymous clients, a password per device and one for the silos, the
#                per-device topic ACL of deploy/mosquitto/production.acl; devices on MQTT_PORT (the user name becomes
#                the client id), silos on MQTT_CLOUD_PORT
#   silo-1, -2   yolofleet-silo, one Orleans cluster through Redis, the operator API behind an API key
#   sim-01..N    yolofleet-agent, each with its own broker password, reading a looping video (or an image folder)
#
# Secrets are generated once into $DIR/secrets (mode 0700, files 0600) and never overwritten: the database, Redis
# and broker passwords, the operator API key, the model signing key and the download token secret. They reach the
# processes through files and environment variables (readable only by their owner in /proc), never a command line.
#
# Environment (defaults in brackets):
#   YOLOFLEET_TOPOLOGY_DIR        [/tmp/yolofleet-topology]  state: secrets, data, logs, pid files
#   YOLOFLEET_TOPOLOGY_AGENTS     [2]       number of simulated devices (1-20), named sim-01, sim-02, ...
#   YOLOFLEET_TOPOLOGY_SOURCE     [Debian's vtest.avi, else ../shared/datasets/coco128/images]  a video file or an image folder
#   YOLOFLEET_TOPOLOGY_MODEL      [../shared/models/yolox_nano/yolox_nano_416.onnx]
#   YOLOFLEET_TOPOLOGY_MAX_FPS    [2]       frames per second per agent (keeps a small machine usable)
#   YOLOFLEET_TOPOLOGY_TIMEOUT    [180]     seconds `start` waits for everything to be healthy
#   YOLOFLEET_BIN_DIR             [build]   a folder with yolofleet-silo.dll, yolofleet-agent.dll and yolofleet.dll;
#                                           unset: `dotnet build cloud/YoloFleet.Cli -c Release` into $DIR/bin
#   Ports: YOLOFLEET_TOPOLOGY_PG_PORT [56432], _REDIS_PORT [17379], _MQTT_PORT [12883], _MQTT_CLOUD_PORT [12884],
#          _HTTP_PORTS ["5180 5181"], _SILO_PORTS ["12111 12112"], _GATEWAY_PORTS ["31000 31001"] (one per silo)
#
# Missing binaries: run deploy/install-deps.sh (as root). The shared models come from ../shared beside the checkout
# (YOLOFLEET_SHARED_DIR overrides it), as everywhere else in the project.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd -- "$SCRIPT_DIR/.." && pwd)
SHARED_DIR=${YOLOFLEET_SHARED_DIR:-$REPO_DIR/../shared}
HOST=127.0.0.1

DIR=${YOLOFLEET_TOPOLOGY_DIR:-/tmp/yolofleet-topology}
case $DIR in
    /*) ;;
    *) DIR=$PWD/$DIR ;;
esac
DIR=${DIR%/}
AGENTS=${YOLOFLEET_TOPOLOGY_AGENTS:-2}
MODEL=${YOLOFLEET_TOPOLOGY_MODEL:-$SHARED_DIR/models/yolox_nano/yolox_nano_416.onnx}
MAX_FPS=${YOLOFLEET_TOPOLOGY_MAX_FPS:-2}
TIMEOUT=${YOLOFLEET_TOPOLOGY_TIMEOUT:-180}
PG_PORT=${YOLOFLEET_TOPOLOGY_PG_PORT:-56432}
REDIS_PORT=${YOLOFLEET_TOPOLOGY_REDIS_PORT:-17379}
MQTT_PORT=${YOLOFLEET_TOPOLOGY_MQTT_PORT:-12883}
MQTT_CLOUD_PORT=${YOLOFLEET_TOPOLOGY_MQTT_CLOUD_PORT:-12884}
read -r -a HTTP_PORTS <<<"${YOLOFLEET_TOPOLOGY_HTTP_PORTS:-5180 5181}"
read -r -a SILO_PORTS <<<"${YOLOFLEET_TOPOLOGY_SILO_PORTS:-12111 12112}"
read -r -a GATEWAY_PORTS <<<"${YOLOFLEET_TOPOLOGY_GATEWAY_PORTS:-31000 31001}"
SILOS=2
CLUSTER_ID=topology
VIDEO_DEFAULT=/usr/share/doc/opencv-doc/examples/data/vtest.avi
if [[ -n ${YOLOFLEET_TOPOLOGY_SOURCE:-} ]]; then
    SOURCE=$YOLOFLEET_TOPOLOGY_SOURCE
elif [[ -f $VIDEO_DEFAULT ]]; then
    SOURCE=$VIDEO_DEFAULT
else
    SOURCE=$SHARED_DIR/datasets/coco128/images
fi

SECRETS=$DIR/secrets
RUN=$DIR/run
LOGS=$DIR/logs
PG_DIR=$DIR/postgres
PG_DATA=$PG_DIR/data
REDIS_DIR=$DIR/redis
MQTT_DIR=$DIR/mosquitto
# An agent is healthy while its liveness file is younger than this (it is rewritten every 5 s while frames flow).
AGENT_STALE_SECONDS=30

# shellcheck source=deploy/lib/common.sh
source "$SCRIPT_DIR/lib/common.sh"

usage() {
    awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"
}

check_settings() {
    [[ $AGENTS =~ ^[0-9]+$ ]] && ((AGENTS >= 1 && AGENTS <= 20)) || die "YOLOFLEET_TOPOLOGY_AGENTS must be 1-20, got '$AGENTS'"
    [[ $TIMEOUT =~ ^[0-9]+$ ]] && ((TIMEOUT >= 10)) || die "YOLOFLEET_TOPOLOGY_TIMEOUT must be a number of seconds >= 10, got '$TIMEOUT'"
    [[ $MAX_FPS =~ ^[0-9]+([.][0-9]+)?$ ]] || die "YOLOFLEET_TOPOLOGY_MAX_FPS must be a number, got '$MAX_FPS'"
    check_port YOLOFLEET_TOPOLOGY_PG_PORT "$PG_PORT"
    check_port YOLOFLEET_TOPOLOGY_REDIS_PORT "$REDIS_PORT"
    check_port YOLOFLEET_TOPOLOGY_MQTT_PORT "$MQTT_PORT"
    check_port YOLOFLEET_TOPOLOGY_MQTT_CLOUD_PORT "$MQTT_CLOUD_PORT"
    local list
    for list in HTTP_PORTS SILO_PORTS GATEWAY_PORTS; do
        local -n ports=$list
        ((${#ports[@]} == SILOS)) || die "YOLOFLEET_TOPOLOGY_$list must name $SILOS ports (one per silo), got '${ports[*]}'"
        local port
        for port in "${ports[@]}"; do check_port "YOLOFLEET_TOPOLOGY_$list" "$port"; done
    done
}

# The pid recorded for $1 when that process is still the one we started (its command line names $2).
pid_of() { # name marker
    local file=$RUN/$1.pid pid
    [[ -f $file ]] || return 1
    pid=$(tr -dc '0-9' <"$file")
    pid_alive "$pid" || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2" || return 1
    echo "$pid"
}

device_id() { printf 'sim-%02d' "$1"; }

secret() { cat "$SECRETS/$1"; }

# ------------------------------------------------------------------------------------------------------ secrets

# Writes a secret once: an existing file is never overwritten (a restart keeps every credential).
new_secret() { # name command...
    local file=$SECRETS/$1
    shift
    [[ -s $file ]] && return 0
    (umask 077 && "$@" >"$file.tmp" && mv "$file.tmp" "$file")
}

random_password() { openssl rand -base64 24 | tr -d '\n/+='; }

make_secrets() {
    command -v openssl >/dev/null || die "openssl not found: run deploy/install-deps.sh (as root)"
    mkdir -p "$SECRETS" "$SECRETS/devices"
    chmod 700 "$SECRETS" "$SECRETS/devices"
    new_secret db-password random_password
    new_secret redis-password random_password
    new_secret mqtt-cloud-password random_password
    local i
    for ((i = 1; i <= AGENTS; i++)); do
        new_secret "devices/$(device_id "$i").password" random_password
    done
    # Operator API key: "yf_" + 32 random bytes in base64url, as `yolofleet apikey` mints; the silos get only its hash.
    new_secret operator-api-key sh -c "printf 'yf_%s' \"\$(openssl rand -base64 32 | tr -d '=\n' | tr '+/' '-_')\""
    # A curl header file, so the key is never on curl's command line (curl -H @FILE).
    if [[ ! -s $SECRETS/operator-api-key.header ]]; then
        (umask 077 && printf 'Authorization: Bearer %s\n' "$(secret operator-api-key)" >"$SECRETS/operator-api-key.header")
    fi
    if [[ ! -s $SECRETS/operator-api-key.sha256 ]]; then
        (umask 077 && printf 'sha256:%s' "$(sha256sum <"$SECRETS/operator-api-key" | cut -d' ' -f1)" >"$SECRETS/operator-api-key.sha256")
    fi
    # The manifest signing key (ECDSA P-256, PKCS#8) every silo shares, and its public half for the agents.
    new_secret model-signing.pem openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256
    if [[ ! -s $DIR/model-signing.pub.pem ]]; then
        openssl pkey -in "$SECRETS/model-signing.pem" -pubout -out "$DIR/model-signing.pub.pem"
    fi
    # The download token secret (base64, 32 bytes) every silo shares.
    new_secret download-token.key openssl rand -base64 32
    find "$SECRETS" -type f -exec chmod 600 {} +
    chmod 700 "$SECRETS" "$SECRETS/devices"
}

db_connection() { # database
    echo "Host=$HOST;Port=$PG_PORT;Username=postgres;Password=$(secret db-password);Database=$1"
}

# ---------------------------------------------------------------------------------------------------- postgres

PG_BIN=${YOLOFLEET_PG_BIN:-}
if [[ -z $PG_BIN ]]; then
    for candidate in /usr/lib/postgresql/*/bin; do
        if [[ -x $candidate/pg_ctl ]]; then PG_BIN=$candidate; fi
    done
fi

pg_healthy() { "$PG_BIN/pg_isready" -q -h "$HOST" -p "$PG_PORT" -t 3 2>/dev/null; }

pg_pid() {
    local pid
    pid=$(sed -n 1p "$PG_DATA/postmaster.pid" 2>/dev/null) || return 1
    pid_alive "$pid" || return 1
    echo "$pid"
}

pg_start() {
    [[ -n $PG_BIN && -x $PG_BIN/initdb ]] || die "PostgreSQL not found: run deploy/install-deps.sh (as root)"
    if pg_pid >/dev/null; then return 0; fi
    port_open "$PG_PORT" && die "postgres: something else listens on $HOST:$PG_PORT (set YOLOFLEET_TOPOLOGY_PG_PORT)"
    mkdir -p "$PG_DIR/socket"
    if is_root; then
        id postgres >/dev/null 2>&1 || die "user 'postgres' does not exist: run deploy/install-deps.sh"
        chown postgres: "$PG_DIR" "$PG_DIR/socket"
        runuser -u postgres -- test -x "$PG_DIR" ||
            die "postgres: the user 'postgres' cannot reach $PG_DIR; choose a YOLOFLEET_TOPOLOGY_DIR it can traverse"
    fi
    chmod 700 "$PG_DIR/socket"
    if [[ ! -s $PG_DATA/PG_VERSION ]]; then
        rm -rf "$PG_DATA"
        # The superuser's password goes in through a file readable only by the cluster's owner, removed after.
        local pwfile=$PG_DIR/initdb.pw
        (umask 077 && secret db-password >"$pwfile")
        if is_root; then chown postgres: "$pwfile"; fi
        if ! as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --pwfile="$pwfile" -A scram-sha-256 \
            --encoding=UTF8 --no-locale >"$PG_DIR/initdb.log" 2>&1; then
            rm -f "$pwfile"
            log_tail "$PG_DIR/initdb.log"
            die "postgres: initdb failed"
        fi
        rm -f "$pwfile"
        as_pg tee -a "$PG_DATA/postgresql.conf" >/dev/null <<EOF
# deploy/topology.sh
port = $PG_PORT
listen_addresses = '$HOST'
unix_socket_directories = '$PG_DIR/socket'
password_encryption = scram-sha-256
max_connections = 100
timezone = 'UTC'
log_timezone = 'UTC'
EOF
    fi
    as_pg touch "$PG_DIR/postgres.log"
    if ! as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_DIR/postgres.log" -o "-p $PG_PORT" -w -t 60 start >/dev/null 2>"$PG_DIR/pg_ctl.err"; then
        cat "$PG_DIR/pg_ctl.err" >&2 || true
        log_tail "$PG_DIR/postgres.log"
        die "postgres: failed to start"
    fi
}

pg_stop() {
    [[ -d $PG_DATA ]] && pg_pid >/dev/null || return 0
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null 2>&1 || {
        log_tail "$PG_DIR/postgres.log"
        echo "topology.sh: postgres did not stop cleanly" >&2
    }
}

# ------------------------------------------------------------------------------------------------------- redis

redis_start() {
    command -v redis-server >/dev/null || die "redis-server not found: run deploy/install-deps.sh (as root)"
    if pid_of redis "redis-server" >/dev/null; then return 0; fi
    port_open "$REDIS_PORT" && die "redis: something else listens on $HOST:$REDIS_PORT (set YOLOFLEET_TOPOLOGY_REDIS_PORT)"
    mkdir -p "$REDIS_DIR"
    chmod 700 "$REDIS_DIR"
    # The password goes in the configuration file (0600), not on redis-server's command line.
    (umask 077 && cat >"$REDIS_DIR/redis.conf" <<EOF
bind $HOST
port $REDIS_PORT
protected-mode yes
requirepass $(secret redis-password)
dir $REDIS_DIR
appendonly yes
save ""
daemonize no
logfile $REDIS_DIR/redis.log
EOF
    )
    launch redis "$REDIS_DIR/redis.log" redis-server "$REDIS_DIR/redis.conf"
}

redis_healthy() {
    REDISCLI_AUTH=$(secret redis-password) timeout 3 redis-cli -h "$HOST" -p "$REDIS_PORT" --no-auth-warning ping 2>/dev/null | grep -q PONG
}

# --------------------------------------------------------------------------------------------------- mosquitto

MOSQUITTO=$(command -v mosquitto || true)
if [[ -z $MOSQUITTO && -x /usr/sbin/mosquitto ]]; then MOSQUITTO=/usr/sbin/mosquitto; fi

# Password file: "user:password" lines written owner-only, then hashed in place by mosquitto_passwd -U, so no
# password appears on a command line. Rewritten on every start from the secrets, so a new device gets its line.
mqtt_write_passwords() {
    local passwd=$MQTT_DIR/passwd i id
    (
        umask 077
        {
            printf 'yolofleet-cloud:%s\n' "$(secret mqtt-cloud-password)"
            for ((i = 1; i <= AGENTS; i++)); do
                id=$(device_id "$i")
                printf '%s:%s\n' "$id" "$(secret "devices/$id.password")"
            done
        } >"$passwd.tmp"
    )
    mosquitto_passwd -U "$passwd.tmp" >/dev/null || die "mosquitto: mosquitto_passwd -U failed"
    mv "$passwd.tmp" "$passwd"
    if is_root && id mosquitto >/dev/null 2>&1; then
        # As root, mosquitto drops to its own user before it reads these files and writes its persistence.
        chown -R mosquitto: "$MQTT_DIR"
    fi
}

mqtt_start() {
    [[ -n $MOSQUITTO ]] || die "mosquitto not found: run deploy/install-deps.sh (as root)"
    command -v mosquitto_passwd >/dev/null || die "mosquitto_passwd not found: run deploy/install-deps.sh (as root)"
    local pid
    if pid=$(pid_of mosquitto mosquitto); then
        # Running: new devices' passwords take effect on SIGHUP (mosquitto reloads its password and ACL files).
        mqtt_write_passwords
        kill -HUP "$pid"
        return 0
    fi
    local port
    for port in "$MQTT_PORT" "$MQTT_CLOUD_PORT"; do
        port_open "$port" && die "mosquitto: something else listens on $HOST:$port (set YOLOFLEET_TOPOLOGY_MQTT_PORT / _MQTT_CLOUD_PORT)"
    done
    mkdir -p "$MQTT_DIR/data"
    chmod 700 "$MQTT_DIR"
    cp "$REPO_DIR/deploy/mosquitto/production.acl" "$MQTT_DIR/acl"
    local user
    user=$(id -un)
    if is_root && id mosquitto >/dev/null 2>&1; then user=mosquitto; fi
    cat >"$MQTT_DIR/mosquitto.conf" <<EOF
# Written by deploy/topology.sh on every start. As deploy/mosquitto/production.conf, but on loopback and without
# TLS: no anonymous clients, a password per device, the per-device ACL, persistence, bounded queues.
per_listener_settings false
allow_anonymous false
password_file $MQTT_DIR/passwd
acl_file $MQTT_DIR/acl
user $user

# Devices: the user name (the device id) becomes the client id, so no device can take over another's session.
listener $MQTT_PORT $HOST
use_username_as_clientid true

# Silos: one account, each silo its own client id and session.
listener $MQTT_CLOUD_PORT $HOST

persistence true
persistence_location $MQTT_DIR/data/
autosave_interval 10
max_inflight_messages 100
max_queued_messages 100000
max_queued_bytes 67108864
max_packet_size 2162688
set_tcp_nodelay true
log_dest stdout
log_type error
log_type warning
log_type notice
connection_messages true
log_timestamp_format %Y-%m-%dT%H:%M:%S
EOF
    mqtt_write_passwords
    launch mosquitto "$MQTT_DIR/mosquitto.log" "$MOSQUITTO" -c "$MQTT_DIR/mosquitto.conf"
}

mqtt_healthy() { port_open "$MQTT_PORT" && port_open "$MQTT_CLOUD_PORT"; }

# ---------------------------------------------------------------------------------------------- silos, agents

# Starts "$@" in its own session with output to $2, records its pid as $RUN/$1.pid. The caller's exported
# variables (secrets among them) reach it through its environment, never its command line.
launch() { # name log command...
    local name=$1 log=$2
    shift 2
    mkdir -p "$RUN"
    : >"$log"
    setsid "$@" </dev/null >>"$log" 2>&1 &
    echo $! >"$RUN/$name.pid"
}

BIN=${YOLOFLEET_BIN_DIR:-}

require_binaries() {
    if [[ -z $BIN ]]; then
        BIN=$DIR/bin
        echo "topology: building cloud/YoloFleet.Cli (Release) into $BIN"
        dotnet build "$REPO_DIR/cloud/YoloFleet.Cli" -c Release -o "$BIN" -v quiet -nologo >"$DIR/build.log" 2>&1 || {
            log_tail "$DIR/build.log"
            die "the build failed (log: $DIR/build.log)"
        }
    fi
    local dll
    for dll in yolofleet-silo.dll yolofleet-agent.dll yolofleet.dll; do
        [[ -f $BIN/$dll ]] || die "$BIN/$dll not found (YOLOFLEET_BIN_DIR must hold the built silo, agent and CLI)"
    done
}

cli() {
    (
        export YOLOFLEET_DATABASE
        YOLOFLEET_DATABASE=$(db_connection yolofleet)
        cd "$DIR" && dotnet "$BIN/yolofleet.dll" "$@"
    )
}

silo_start() { # index (1-based)
    local n=$1 name="silo-$1"
    if pid_of "$name" yolofleet-silo.dll >/dev/null; then return 0; fi
    local http=${HTTP_PORTS[n - 1]} silo=${SILO_PORTS[n - 1]} gateway=${GATEWAY_PORTS[n - 1]} port
    for port in "$http" "$silo" "$gateway"; do
        port_open "$port" && die "$name: something else listens on $HOST:$port (set the YOLOFLEET_TOPOLOGY_*_PORTS)"
    done
    mkdir -p "$DIR/$name" "$DIR/artifacts" "$LOGS"
    chmod 700 "$DIR/$name" "$DIR/artifacts"
    (
        export Urls="http://$HOST:$http"
        export Logging__LogLevel__Default=Information Logging__LogLevel__Orleans=Warning Logging__LogLevel__Microsoft=Warning
        export Cloud__Database
        Cloud__Database=$(db_connection yolofleet)
        export Cloud__Mqtt__Host=$HOST Cloud__Mqtt__Port=$MQTT_CLOUD_PORT Cloud__Mqtt__Username=yolofleet-cloud
        export Cloud__Mqtt__Password
        Cloud__Mqtt__Password=$(secret mqtt-cloud-password)
        export Cloud__Mqtt__ClientIdPrefix=yolofleet-topology
        export Cloud__Silo__Clustering=Redis Cloud__Silo__ClusterId=$CLUSTER_ID
        export Cloud__Silo__Redis
        Cloud__Silo__Redis="$HOST:$REDIS_PORT,password=$(secret redis-password)"
        export Cloud__Silo__SiloPort=$silo Cloud__Silo__GatewayPort=$gateway
        export Cloud__Api__KeyHashes__0
        Cloud__Api__KeyHashes__0=$(cat "$SECRETS/operator-api-key.sha256")
        # Every silo signs with the same key, shares the download token secret and the artifact store.
        export Cloud__StateDirectory=$DIR/$name
        export Cloud__Models__SigningKeyFile=$SECRETS/model-signing.pem
        export Cloud__Models__DownloadTokenKeyFile=$SECRETS/download-token.key
        export Cloud__Models__ArtifactDirectory=$DIR/artifacts
        cd "$DIR/$name"
        launch "$name" "$LOGS/$name.log" dotnet "$BIN/yolofleet-silo.dll"
    )
}

silo_healthy() { # index
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://$HOST:${HTTP_PORTS[$1 - 1]}/healthz" 2>/dev/null) == 200 ]]
}

agent_start() { # index
    local id
    id=$(device_id "$1")
    if pid_of "$id" yolofleet-agent.dll >/dev/null; then return 0; fi
    mkdir -p "$DIR/agents/$id" "$LOGS"
    chmod 700 "$DIR/agents/$id"
    rm -f "$DIR/agents/$id/alive"
    (
        export Logging__LogLevel__Default=Information
        export Agent__DeviceId=$id Agent__StateDirectory=$DIR/agents/$id Agent__ModelPath=$MODEL
        export Agent__Broker__Host=$HOST Agent__Broker__Port=$MQTT_PORT Agent__Broker__Username=$id
        export Agent__Broker__Password
        Agent__Broker__Password=$(secret "devices/$id.password")
        if [[ -d $SOURCE ]]; then export Agent__Source__Folder=$SOURCE; else export Agent__Source__Video=$SOURCE; fi
        export Agent__Source__Loop=true Agent__Source__MaxFps=$MAX_FPS
        export Agent__Detection__IntraOpThreads=1
        export Agent__Models__TrustedKeys__0=$DIR/model-signing.pub.pem
        # The silos serve models over plain HTTP on loopback; the manifest signature protects the file.
        export Agent__Models__AllowHttp=true
        export Agent__Liveness__File=alive
        cd "$DIR/agents/$id"
        launch "$id" "$LOGS/$id.log" dotnet "$BIN/yolofleet-agent.dll"
    )
}

agent_healthy() { # index
    local file
    file=$DIR/agents/$(device_id "$1")/alive
    [[ -f $file ]] && (($(date +%s) - $(stat -c %Y "$file") < AGENT_STALE_SECONDS))
}

# ----------------------------------------------------------------------------------------------------- status

# One line per process: "name: running (pid N, ...) healthy" / "unhealthy" / "stopped". Returns 3 unless all healthy.
status() {
    local rc=0 i pid id
    line() { # name pid-or-empty healthy(0/1) detail
        if [[ -z $2 ]]; then
            echo "$1: stopped"
            rc=3
        elif (($3 == 0)); then
            echo "$1: running (pid $2, $4) healthy"
        else
            echo "$1: running (pid $2, $4) UNHEALTHY"
            rc=3
        fi
    }
    pid=$(pg_pid || true)
    line postgres "$pid" "$(pg_healthy && echo 0 || echo 1)" "$HOST:$PG_PORT, pg_isready"
    pid=$(pid_of redis redis-server || true)
    line redis "$pid" "$([[ -n $pid ]] && redis_healthy && echo 0 || echo 1)" "$HOST:$REDIS_PORT, PING"
    pid=$(pid_of mosquitto mosquitto || true)
    line mosquitto "$pid" "$([[ -n $pid ]] && mqtt_healthy && echo 0 || echo 1)" "devices $HOST:$MQTT_PORT, silos $HOST:$MQTT_CLOUD_PORT"
    for ((i = 1; i <= SILOS; i++)); do
        pid=$(pid_of "silo-$i" yolofleet-silo.dll || true)
        line "silo-$i" "$pid" "$([[ -n $pid ]] && silo_healthy "$i" && echo 0 || echo 1)" "http://$HOST:${HTTP_PORTS[i - 1]}/healthz"
    done
    # The cluster as the first healthy silo sees it (GET /api/cluster, with the operator API key).
    local members=""
    for ((i = 1; i <= SILOS; i++)); do
        if silo_healthy "$i"; then
            members=$(curl -s --max-time 5 -H "@$SECRETS/operator-api-key.header" "http://$HOST:${HTTP_PORTS[i - 1]}/api/cluster" 2>/dev/null |
                grep -o '"address":"[^"]*"' | cut -d'"' -f4 | sort | tr '\n' ' ' || true)
            break
        fi
    done
    local count
    count=$(wc -w <<<"$members")
    if ((count == SILOS)); then
        echo "cluster: $count active silos (${members% })"
    else
        echo "cluster: $count of $SILOS silos active (${members% })"
        rc=3
    fi
    for ((i = 1; i <= AGENTS; i++)); do
        id=$(device_id "$i")
        pid=$(pid_of "$id" yolofleet-agent.dll || true)
        line "$id" "$pid" "$([[ -n $pid ]] && agent_healthy "$i" && echo 0 || echo 1)" "liveness file younger than ${AGENT_STALE_SECONDS} s"
    done
    return "$rc"
}

# Waits (bounded) until $2 succeeds, failing with the process's log when it dies or the deadline passes.
wait_healthy() { # name check-command log marker deadline
    local name=$1 check=$2 log=$3 marker=$4 deadline=$5
    while ! eval "$check"; do
        if [[ -n $marker ]] && ! pid_of "$name" "$marker" >/dev/null; then
            log_tail "$log"
            die "$name exited during start (log: $log); run 'deploy/topology.sh stop' to clean up"
        fi
        if ((SECONDS >= deadline)); then
            log_tail "$log"
            die "$name did not become healthy within ${TIMEOUT} s (log: $log); run 'deploy/topology.sh stop' to clean up"
        fi
        sleep 0.5
    done
}

start() {
    check_settings
    [[ -f $MODEL ]] || die "model $MODEL not found (set YOLOFLEET_TOPOLOGY_MODEL or YOLOFLEET_SHARED_DIR)"
    [[ -e $SOURCE ]] || die "source $SOURCE not found (set YOLOFLEET_TOPOLOGY_SOURCE to a video file or an image folder)"
    command -v curl >/dev/null || die "curl not found: apt-get install curl"
    mkdir -p "$DIR" "$RUN" "$LOGS"
    # Traversable (the postgres and mosquitto users reach their folders) but not listable by others.
    chmod 711 "$DIR"
    chmod 700 "$LOGS"
    require_binaries
    make_secrets
    local deadline=$((SECONDS + TIMEOUT)) i
    pg_start
    redis_start
    mqtt_start
    wait_healthy postgres pg_healthy "$PG_DIR/postgres.log" "" "$deadline"
    wait_healthy redis redis_healthy "$REDIS_DIR/redis.log" redis-server "$deadline"
    wait_healthy mosquitto mqtt_healthy "$MQTT_DIR/mosquitto.log" mosquitto "$deadline"
    echo "topology: migrating the database and registering $AGENTS device(s) (group sim)"
    cli db migrate >"$LOGS/migrate.log" 2>&1 || { log_tail "$LOGS/migrate.log"; die "yolofleet db migrate failed"; }
    for ((i = 1; i <= AGENTS; i++)); do
        cli devices add "$(device_id "$i")" --group sim >>"$LOGS/migrate.log" 2>&1 ||
            { log_tail "$LOGS/migrate.log"; die "yolofleet devices add $(device_id "$i") failed"; }
    done
    for ((i = 1; i <= SILOS; i++)); do silo_start "$i"; done
    for ((i = 1; i <= SILOS; i++)); do
        wait_healthy "silo-$i" "silo_healthy $i" "$LOGS/silo-$i.log" yolofleet-silo.dll "$deadline"
    done
    for ((i = 1; i <= AGENTS; i++)); do agent_start "$i"; done
    for ((i = 1; i <= AGENTS; i++)); do
        wait_healthy "$(device_id "$i")" "agent_healthy $i" "$LOGS/$(device_id "$i").log" yolofleet-agent.dll "$deadline"
    done
    status
    echo "topology: up. Operator: eval \"\$(bash deploy/topology.sh env)\" then yolofleet devices list / models upload / assign"
}

# SIGTERM, then SIGKILL after $3 seconds; returns once the process is gone.
terminate() { # name marker grace-seconds
    local pid i
    pid=$(pid_of "$1" "$2") || { rm -f "$RUN/$1.pid"; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < $3 * 10; i++)); do
        pid_alive "$pid" || break
        sleep 0.1
    done
    if pid_alive "$pid"; then
        echo "topology: $1 (pid $pid) ignored SIGTERM for $3 s; sending SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            pid_alive "$pid" || break
            sleep 0.1
        done
    fi
    rm -f "$RUN/$1.pid"
}

stop() {
    local i name pid pids=() left=()
    # Record every pid first, to check afterwards that none survived.
    for name in "$RUN"/*.pid; do
        [[ -f $name ]] || continue
        pid=$(tr -dc '0-9' <"$name")
        # Only those alive now: a stale file's pid may since belong to an unrelated process.
        if pid_alive "$pid"; then pids+=("$pid"); fi
    done
    if pid=$(pg_pid); then pids+=("$pid"); fi
    # Agents first (they flush their outbox), then the silos (they commit what they hold), then the services.
    for ((i = 1; i <= 20; i++)); do terminate "$(device_id "$i")" yolofleet-agent.dll 45; done
    for ((i = 1; i <= SILOS; i++)); do terminate "silo-$i" yolofleet-silo.dll 45; done
    terminate mosquitto mosquitto 10
    terminate redis redis-server 10
    pg_stop
    for pid in "${pids[@]}"; do
        if pid_alive "$pid"; then left+=("$pid"); fi
    done
    ((${#left[@]} == 0)) || die "still running after stop: pid(s) ${left[*]}"
    echo "topology: stopped (state kept in $DIR; delete it to start afresh)"
}

print_env() {
    [[ -s $SECRETS/operator-api-key ]] || die "no secrets in $SECRETS yet: run 'deploy/topology.sh start' first"
    # The API key and database password stay in their files; the CLI reads them from the environment.
    echo "export YOLOFLEET_URL=http://$HOST:${HTTP_PORTS[0]}"
    echo "export YOLOFLEET_API_KEY=\"\$(cat '$SECRETS/operator-api-key')\""
    echo "export YOLOFLEET_DATABASE=\"Host=$HOST;Port=$PG_PORT;Username=postgres;Password=\$(cat '$SECRETS/db-password');Database=yolofleet\""
}

case ${1:-} in
    start) start ;;
    status)
        check_settings
        status
        ;;
    stop)
        check_settings
        stop
        ;;
    env)
        check_settings
        print_env
        ;;
    secrets)
        check_settings
        mkdir -p "$DIR"
        make_secrets
        if [[ -n ${YOLOFLEET_SECRETS_UID:-} ]]; then
            [[ $YOLOFLEET_SECRETS_UID =~ ^[0-9]+$ ]] || die "YOLOFLEET_SECRETS_UID must be a numeric uid"
            # The containers' unprivileged user reads them (compose bind-mounts secret files as they are).
            chown -R "$YOLOFLEET_SECRETS_UID:$YOLOFLEET_SECRETS_UID" "$SECRETS" ||
                die "could not give $SECRETS to uid $YOLOFLEET_SECRETS_UID (run as root)"
        fi
        echo "topology: secrets in $SECRETS (0600; existing ones kept)"
        ;;
    -h | --help | help) usage ;;
    *)
        usage >&2
        exit 2
        ;;
esac
