#!/usr/bin/env bash
# swift-format over the package's own Swift files (not the generated protobuf code), with the
# checked-in .swift-format configuration.
# usage: scripts/format.sh          rewrite files in place
#        scripts/format.sh --lint   report what differs, exit 1 if anything does (CI)
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(find Sources Tests Benchmarks -name '*.swift' -not -path '*/Generated/*' | sort)
files+=(Package.swift)
if [ "${1:-}" = "--lint" ]; then
    swift format lint --strict --parallel --configuration .swift-format "${files[@]}"
else
    swift format format --in-place --parallel --configuration .swift-format "${files[@]}"
fi
