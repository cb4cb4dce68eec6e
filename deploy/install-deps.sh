#!/usr/bin/env bash
# Installs the Debian 12 packages that the services, the tests and the demo need:
#   postgresql (15), mosquitto, mosquitto-clients, libgtk-3-0 (OpenCvSharp's native library links it;
#   without it the first OpenCV call throws DllNotFoundException), and opencv-doc (its
#   /usr/share/doc/opencv-doc/examples/data/vtest.avi is the static-camera video `yolofleet scene-bench` and
#   deploy/topology.sh's agents read), curl and openssl (topology.sh's health checks and generated secrets), and
#   chromium (the dashboard's browser tests drive it headless through Playwright; docs/dashboard.md).
# The .NET SDK is expected to be installed already.
#
#   deploy/install-deps.sh           install what is missing (root; apt-get update first); quick no-op when
#                                    everything is installed
#   deploy/install-deps.sh --check   exit 0 when everything is installed, 1 (listing what is missing) if not
set -euo pipefail

PACKAGES=(postgresql mosquitto mosquitto-clients redis-server libgtk-3-0 opencv-doc curl openssl chromium)

installed() { # package
    [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]
}

missing=()
for pkg in "${PACKAGES[@]}"; do
    installed "$pkg" || missing+=("$pkg")
done

if [[ ${1:-} == --check ]]; then
    if ((${#missing[@]})); then
        echo "install-deps: missing packages: ${missing[*]}" >&2
        exit 1
    fi
    exit 0
elif (($#)); then
    echo "usage: deploy/install-deps.sh [--check]" >&2
    exit 2
fi

if ((${#missing[@]} == 0)); then
    echo "install-deps: already installed: ${PACKAGES[*]}"
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: missing packages: ${missing[*]}" >&2
    echo "install-deps: run as root (e.g. sudo bash deploy/install-deps.sh), or: apt-get install ${missing[*]}" >&2
    exit 1
fi

command -v apt-get >/dev/null || {
    echo "install-deps: apt-get not found; install ${missing[*]} with your package manager" >&2
    exit 1
}

export DEBIAN_FRONTEND=noninteractive
APT_OPTS=(-y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold -o Dpkg::Use-Pty=0)

# Transient mirror errors happen on fresh CI machines: try up to three times.
retry() {
    local attempt
    for attempt in 1 2 3; do
        "$@" && return 0
        echo "install-deps: '$*' failed (attempt $attempt)" >&2
        sleep $((attempt * 5))
    done
    return 1
}

echo "install-deps: installing ${missing[*]}"
# The Debian postgresql package would create (and, under systemd, start) a system cluster "main" on port 5432.
# We run our own throwaway cluster (deploy/services.sh), so skip that: postgresql-common's createcluster.conf
# includes createcluster.d/, and a drop-in there conflicts with no package's config file.
if [[ ! -e /etc/postgresql/15/main ]]; then
    mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/yolofleet-no-main-cluster.conf
fi

retry apt-get update -q
# --no-install-recommends: the recommends (GTK themes, sysstat, ...) are not needed and slow a fresh install.
retry apt-get install "${APT_OPTS[@]}" --no-install-recommends "${missing[@]}"

still=()
for pkg in "${PACKAGES[@]}"; do
    installed "$pkg" || still+=("$pkg")
done
if ((${#still[@]})); then
    echo "install-deps: still missing after apt-get install: ${still[*]}" >&2
    exit 1
fi
echo "install-deps: installed ${missing[*]}"
