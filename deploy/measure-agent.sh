#!/usr/bin/env bash
# Measures the edge agent's CPU and memory while it runs yolox_nano_416 on coco128 at a fixed frame rate, publishing to
# the local mosquitto (deploy/services.sh). Prints one line of figures at the end.
#   bash deploy/measure-agent.sh [FPS=5] [SECONDS=60] [WARMUP_SECONDS=10]
set -euo pipefail
cd "$(dirname "$0")/.."
fps=${1:-5}
seconds=${2:-60}
warmup=${3:-10}
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

bash deploy/services.sh start mosquitto >/dev/null
eval "$(bash deploy/services.sh env)"
dotnet build edge-agent/YoloFleet.EdgeAgent -c Release -nologo -v quiet -clp:ErrorsOnly
shared=${YOLOFLEET_SHARED_DIR:-$(cd .. && pwd)/shared}
state=$(mktemp -d /tmp/yolofleet-measure.XXXXXX)
dll=$(find edge-agent/YoloFleet.EdgeAgent/bin/Release -name yolofleet-agent.dll | head -n 1)

dotnet "$dll" --Agent:DeviceId=measure-01 --Agent:StateDirectory="$state" \
  --Agent:ModelPath="$shared/models/yolox_nano/yolox_nano_416.onnx" --Agent:Source:Folder="$shared/datasets/coco128/images" \
  --Agent:Source:Loop=true --Agent:Source:MaxFps="$fps" \
  --Agent:Broker:Host="${YOLOFLEET_MQTT%:*}" --Agent:Broker:Port="${YOLOFLEET_MQTT##*:}" --Agent:Broker:HoldWhenNoSubscriber=false \
  --Agent:Delivery:Confirmation=Broker --Logging:LogLevel:Default=Warning >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$state"' EXIT

ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
echo "measure: warming up for ${warmup}s at ${fps} frames/s" >&2
sleep "$warmup"
start_ticks=$(ticks)
start_time=$(date +%s.%N)
max_rss=0
sum_rss=0
samples=0
for ((i = 0; i < seconds; i++)); do
  sleep 1
  rss=$(awk '/^VmRSS:/{print $2}' "/proc/$pid/status")
  sum_rss=$((sum_rss + rss))
  samples=$((samples + 1))
  ((rss > max_rss)) && max_rss=$rss
  ((i % 10 == 9)) && echo "measure: ${i}s" >&2
done
end_ticks=$(ticks)
end_time=$(date +%s.%N)
hwm=$(awk '/^VmHWM:/{print $2}' "/proc/$pid/status")
hz=$(getconf CLK_TCK)
awk -v t0="$start_ticks" -v t1="$end_ticks" -v s0="$start_time" -v s1="$end_time" -v hz="$hz" -v cores="$(nproc)" \
  -v avg=$((sum_rss / samples)) -v max="$max_rss" -v hwm="$hwm" -v fps="$fps" '
  BEGIN {
    cpu = (t1 - t0) / hz / (s1 - s0) * 100
    printf "agent at %s frames/s: CPU %.1f%% of one core (%.1f%% of %d cores), RSS mean %.1f MiB, max %.1f MiB, peak (VmHWM) %.1f MiB\n",
      fps, cpu, cpu / cores, cores, avg / 1024, max / 1024, hwm / 1024
  }'
