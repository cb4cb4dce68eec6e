#!/usr/bin/env bash
# The end-to-end demo on one machine: starts a local PostgreSQL (deploy/services.sh), then runs `yolofleet demo`,
# which starts an embedded MQTT broker, a localhost Orleans silo and an edge agent in one process.
# Usage: bash deploy/demo.sh [--frames N] [--device ID] [--model PATH] [--images DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

missing=()
for bin in /usr/lib/postgresql/15/bin/initdb; do [ -x "$bin" ] || missing+=("$bin"); done
dpkg -s libgtk-3-0 >/dev/null 2>&1 || missing+=(libgtk-3-0)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing dependencies (${missing[*]})"
  bash deploy/install-deps.sh
fi

echo "== starting PostgreSQL"
bash deploy/services.sh start postgres
eval "$(bash deploy/services.sh env)"

echo "== building"
dotnet build cloud/YoloFleet.Cli -c Release -nologo -v quiet -clp:ErrorsOnly
echo "== running the demo"
exec dotnet run --no-build -c Release --project cloud/YoloFleet.Cli -- demo "$@"
