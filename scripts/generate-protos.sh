#!/usr/bin/env bash
# Regenerates Sources/RaftyGRPC/Generated/ from Protos/rafty.proto.
#
# Needs protoc (Debian's protobuf-compiler; installed here if missing) and the two Swift plugins,
# built from this package's dependencies (swift-protobuf, grpc-swift-protobuf) into .build.
# Environment: PLUGIN_DIR — a folder that already holds protoc-gen-swift and protoc-gen-grpc-swift-2
# (skips building them).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/Sources/RaftyGRPC/Generated"

if ! command -v protoc >/dev/null 2>&1; then
  echo "installing protobuf-compiler" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q && $SUDO apt-get install -y -q protobuf-compiler
fi

if [ -z "${PLUGIN_DIR:-}" ]; then
  # The plugins are products of this package's own dependencies (same versions as the runtime).
  (cd "$ROOT" && swift build --product protoc-gen-swift && swift build --product protoc-gen-grpc-swift-2)
  PLUGIN_DIR="$(cd "$ROOT" && swift build --show-bin-path)"
fi

mkdir -p "$OUT"
protoc --proto_path="$ROOT/Protos" \
  --plugin=protoc-gen-swift="$PLUGIN_DIR/protoc-gen-swift" \
  --swift_opt=Visibility=Package --swift_opt=FileNaming=DropPath --swift_opt=UseAccessLevelOnImports=true \
  --swift_out="$OUT" \
  --plugin=protoc-gen-grpc-swift="$PLUGIN_DIR/protoc-gen-grpc-swift-2" \
  --grpc-swift_opt=Visibility=Package,Server=true,Client=true,FileNaming=DropPath,UseAccessLevelOnImports=true \
  --grpc-swift_out="$OUT" \
  rafty.proto
echo "generated: $(ls "$OUT")"
