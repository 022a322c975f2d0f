#!/usr/bin/env bash
# Regenerates Sources/RaftyGRPC/Generated/ from Protos/rafty.proto.
#
# Needs protoc (Debian's protobuf-compiler; installed here if missing) and the two Swift plugins,
# built from grpc-swift-protobuf (which depends on swift-protobuf) in a scratch checkout.
# Environment: PLUGIN_DIR — a folder that already holds protoc-gen-swift and protoc-gen-grpc-swift-2
# (skips building them); WORK_DIR — where to check out and build the plugins (default /tmp/rafty-protoc-plugins).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GRPC_SWIFT_PROTOBUF_VERSION="2.4.1"
WORK_DIR="${WORK_DIR:-/tmp/rafty-protoc-plugins}"
OUT="$ROOT/Sources/RaftyGRPC/Generated"

if ! command -v protoc >/dev/null 2>&1; then
  echo "installing protobuf-compiler" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q && $SUDO apt-get install -y -q protobuf-compiler
fi

if [ -z "${PLUGIN_DIR:-}" ]; then
  if [ ! -d "$WORK_DIR/grpc-swift-protobuf" ]; then
    mkdir -p "$WORK_DIR"
    git clone -q --branch "$GRPC_SWIFT_PROTOBUF_VERSION" https://github.com/grpc/grpc-swift-protobuf \
      "$WORK_DIR/grpc-swift-protobuf"
  fi
  (
    cd "$WORK_DIR/grpc-swift-protobuf"
    swift build --product protoc-gen-grpc-swift-2
    swift build --product protoc-gen-swift
  )
  PLUGIN_DIR="$(cd "$WORK_DIR/grpc-swift-protobuf" && swift build --show-bin-path)"
fi

mkdir -p "$OUT"
protoc --proto_path="$ROOT/Protos" \
  --plugin=protoc-gen-swift="$PLUGIN_DIR/protoc-gen-swift" \
  --swift_opt=Visibility=Public --swift_opt=FileNaming=DropPath --swift_opt=UseAccessLevelOnImports=true \
  --swift_out="$OUT" \
  --plugin=protoc-gen-grpc-swift="$PLUGIN_DIR/protoc-gen-grpc-swift-2" \
  --grpc-swift_opt=Visibility=Public,Server=true,Client=true,FileNaming=DropPath,UseAccessLevelOnImports=true \
  --grpc-swift_out="$OUT" \
  rafty.proto
echo "generated: $(ls "$OUT")"
