#!/usr/bin/env bash
# Installs the agent or a silo as a systemd service on this machine.
#
#   deploy/install.sh agent|silo [--from DIR]
#
#   --from DIR   the published binaries to copy to /opt/yolofleet-<role> (e.g. deploy/pi/out for the agent, or
#                `dotnet publish cloud/YoloFleet.Cloud -c Release -o DIR`); left out, /opt/yolofleet-<role> is kept as is
#
# What it does, every step idempotent:
#   - the system user and group "yolofleet" (no login, no home), in group "video" for the agent's camera;
#   - /opt/yolofleet-<role> (root-owned, read-only to the service) and /etc/yolofleet;
#   - the unit deploy/systemd/yolofleet-<role>.service into /etc/systemd/system (units hold no secrets; replaced);
#   - /etc/yolofleet/<role>.env, root:root 0600, from a template, ONLY when it does not exist: an existing file and
#     the secrets in it are never overwritten. For a silo, an operator API key is minted once into
#     /etc/yolofleet/operator-api-key (0600) and only its hash goes into silo.env;
#   - systemctl daemon-reload and enable (not start: fill in the .env file first, then systemctl start yolofleet-<role>).
#
# DESTDIR=/some/root installs under that root instead (packaging, tests): no users, no ownership changes, no systemctl.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
DESTDIR=${DESTDIR:-}
DESTDIR=${DESTDIR%/}

die() {
    echo "install.sh: $*" >&2
    exit 1
}

usage() {
    awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"
}

ROLE=${1:-}
case $ROLE in
    agent | silo) shift ;;
    -h | --help | help)
        usage
        exit 0
        ;;
    *)
        usage >&2
        exit 2
        ;;
esac
FROM=""
while (($#)); do
    case $1 in
        --from)
            FROM=${2:-}
            [[ -d $FROM ]] || die "--from needs a folder of published binaries, got '$FROM'"
            shift 2
            ;;
        *)
            usage >&2
            die "unknown argument '$1'"
            ;;
    esac
done

system=true
if [[ -n $DESTDIR ]]; then
    system=false
elif [[ $(id -u) -ne 0 ]]; then
    die "run as root (or set DESTDIR to install under another root)"
fi

say() { echo "install: $*"; }

if $system; then
    if ! getent group yolofleet >/dev/null; then
        groupadd --system yolofleet
        say "created group yolofleet"
    fi
    if ! id yolofleet >/dev/null 2>&1; then
        useradd --system --gid yolofleet --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin yolofleet
        say "created user yolofleet"
    fi
    if [[ $ROLE == agent ]] && getent group video >/dev/null; then
        usermod -a -G video yolofleet
    fi
fi

OPT=$DESTDIR/opt/yolofleet-$ROLE
ETC=$DESTDIR/etc/yolofleet
UNITS=$DESTDIR/etc/systemd/system
install -d -m 0755 "$OPT" "$UNITS"
install -d -m 0755 "$ETC"

if [[ -n $FROM ]]; then
    cp -a "$FROM"/. "$OPT"/
    if $system; then chown -R root:root "$OPT"; fi
    chmod -R go-w "$OPT"
    say "copied $FROM to $OPT"
fi

install -m 0644 "$SCRIPT_DIR/systemd/yolofleet-$ROLE.service" "$UNITS/yolofleet-$ROLE.service"
say "unit $UNITS/yolofleet-$ROLE.service"

# Writes stdin to $1 with mode 0600 unless $1 exists (then it is kept, secrets and all).
write_once() { # file
    if [[ -e $1 ]]; then
        say "kept existing $1"
        cat >/dev/null
        return 0
    fi
    (umask 077 && cat >"$1.tmp" && mv "$1.tmp" "$1")
    if $system; then chown root:root "$1"; fi
    say "wrote $1 (0600)"
}

if [[ $ROLE == agent ]]; then
    write_once "$ETC/agent.env" <<'EOF'
# /etc/yolofleet/agent.env: read by systemd (as root) for yolofleet-agent.service. Keep it root:root 0600.
# The device's identity: its id, and the broker password provisioned for it (docs/security.md).
Agent__DeviceId=CHANGE-ME
Agent__Broker__Host=broker.example.net
Agent__Broker__Port=8883
Agent__Broker__Tls__Enabled=true
Agent__Broker__Username=CHANGE-ME
Agent__Broker__Password=CHANGE-ME
Agent__ModelPath=/var/lib/yolofleet-agent/models/yolox_nano_416.onnx
Agent__Source__Camera=/dev/video0
# The registry's public signing key (yolofleet signing-key > /etc/yolofleet/model-signing.pem):
Agent__Models__TrustedKeys__0=/etc/yolofleet/model-signing.pem
EOF
else
    key_file=$ETC/operator-api-key
    if [[ ! -e $key_file ]]; then
        # As `yolofleet apikey` mints it: "yf_" + 32 random bytes in base64url. Only its SHA-256 goes to the silo.
        (umask 077 && printf 'yf_%s\n' "$(head -c 32 /dev/urandom | base64 | tr -d '=\n' | tr '+/' '-_')" >"$key_file")
        if $system; then chown root:root "$key_file"; fi
        say "minted an operator API key into $key_file (0600)"
    else
        say "kept existing $key_file"
    fi
    hash="sha256:$(tr -d '\n' <"$key_file" | sha256sum | cut -d' ' -f1)"
    write_once "$ETC/silo.env" <<EOF
# /etc/yolofleet/silo.env: read by systemd (as root) for yolofleet-silo.service. Keep it root:root 0600.
Cloud__Database=Host=127.0.0.1;Port=5432;Username=yolofleet;Password=CHANGE-ME;Database=yolofleet
Cloud__Mqtt__Host=127.0.0.1
Cloud__Mqtt__Port=8885
Cloud__Mqtt__Username=yolofleet-cloud
Cloud__Mqtt__Password=CHANGE-ME
Cloud__Silo__Clustering=Redis
Cloud__Silo__Redis=127.0.0.1:6379
Cloud__Silo__SiloPort=11111
Cloud__Silo__GatewayPort=30000
Cloud__Api__KeyHashes__0=$hash
Urls=http://127.0.0.1:5080
EOF
fi

if $system && [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null; then
    systemctl daemon-reload
    systemctl enable "yolofleet-$ROLE.service"
    say "enabled yolofleet-$ROLE; fill in $ETC/$ROLE.env, then: systemctl start yolofleet-$ROLE"
else
    say "systemd is not running here (or DESTDIR is set): not enabled"
fi
