#!/usr/bin/env bash
# Builds the edge agent for a Raspberry Pi (64-bit Raspberry Pi OS / Debian, linux-arm64) into deploy/pi/out.
#
#   bash deploy/pi/build.sh [--self-contained]
#
# ONNX Runtime's NuGet package carries linux-arm64 natives. OpenCvSharp's does not (no linux-arm64 runtime package is
# published), so the Pi needs libOpenCvSharpExtern.so built for arm64: set OPENCVSHARP_EXTERN to its path and this
# script copies it next to the agent; otherwise it tells you what is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=deploy/pi/out
self_contained=false
[[ ${1:-} == --self-contained ]] && self_contained=true

rm -rf "$out"
dotnet publish edge-agent/YoloFleet.EdgeAgent -c Release -r linux-arm64 --self-contained "$self_contained" \
  -p:PublishReadyToRun=false -o "$out" -nologo -v quiet
cp deploy/systemd/yolofleet-agent.service "$out/"

if [[ -n ${OPENCVSHARP_EXTERN:-} ]]; then
  cp "$OPENCVSHARP_EXTERN" "$out/libOpenCvSharpExtern.so"
  echo "pi build: copied $OPENCVSHARP_EXTERN"
else
  echo "pi build: NOTE libOpenCvSharpExtern.so (arm64) is not included; set OPENCVSHARP_EXTERN=/path/to/it and rerun," >&2
  echo "          or install it on the Pi next to yolofleet-agent (build OpenCvSharp's native extern against Debian's libopencv)." >&2
fi

file_count=$(find "$out" -type f | wc -l)
size=$(du -sh "$out" | cut -f1)
echo "pi build: $out ($file_count files, $size); copy it to /opt/yolofleet-agent and install yolofleet-agent.service"
