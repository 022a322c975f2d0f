#!/usr/bin/env bash
# Builds the libFuzzer targets in Fuzz/ and runs each for FUZZ_SECONDS (default 15).
#
#   scripts/fuzz.sh                      build and run every target
#   scripts/fuzz.sh peer-message         one target (peer-message, storage, kv)
#   FUZZ_SECONDS=600 scripts/fuzz.sh     a longer run
#
# Each target is compiled with swiftc straight from the few source files it needs (RaftCore, and
# SwiftProtobuf for the peer messages), instrumented for libFuzzer and AddressSanitizer, into
# .build-fuzz/. Corpora grow in .build-fuzz/corpus/<target> (seeded from Fuzz/Corpus/<target> if
# present); a crash leaves .build-fuzz/crash-<target>-* and a non-zero exit.
# SwiftProtobuf's sources come from the package's checkout (.build/checkouts, made by
# `swift build` or `swift package resolve`).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/.build-fuzz"
SECONDS_EACH="${FUZZ_SECONDS:-15}"
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(peer-message storage kv)
mkdir -p "$OUT/lib"

BASE=(swiftc -swift-version 6 -parse-as-library -O -g -j "$(nproc)" -sanitize=fuzzer,address -enable-upcoming-feature ExistentialAny)
# This package's settings (Package.swift); SwiftProtobuf is built with its own (BASE).
SWIFTC=("${BASE[@]}" -package-name rafty -enable-upcoming-feature InternalImportsByDefault
        -enable-upcoming-feature MemberImportVisibility
        -I "$OUT/lib" -L "$OUT/lib")

# The linker warns about every AddressSanitizer helper symbol: noise.
quiet() { "$@" 2> >(grep -v "Cannot export local symbol" >&2); }

# module NAME OUTPUT-KIND SOURCES... : a static library (lib) or a fuzzer executable (exe).
module() {
  local name="$1" kind="$2"; shift 2
  local stamp="$OUT/lib/$name.$kind.sources"
  local listing; listing="$(ls -l --time-style=+%s "$@" | md5sum)"
  if [ "$kind" = lib ]; then
    [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$listing" ] && [ -f "$OUT/lib/lib$name.a" ] && return 0
    echo "fuzz: building module $name ($# files)" >&2
    local compiler=("${SWIFTC[@]}")
    [ "$name" = SwiftProtobuf ] && compiler=("${BASE[@]}" -package-name swift_protobuf)
    quiet "${compiler[@]}" -module-name "$name" -emit-module -emit-module-path "$OUT/lib/$name.swiftmodule" \
      -emit-library -static -o "$OUT/lib/lib$name.a" "$@"
  else
    echo "fuzz: building $name" >&2
    quiet "${SWIFTC[@]}" -module-name "${MODULE:-$name}" -o "$OUT/$name" $LINK "$@"
  fi
  echo "$listing" > "$stamp"
}

raftcore() { module RaftCore lib "$ROOT"/Sources/RaftCore/*.swift; }

protobuf() {
  local checkout="$ROOT/.build/checkouts/swift-protobuf/Sources/SwiftProtobuf"
  if [ ! -d "$checkout" ]; then (cd "$ROOT" && swift package resolve >/dev/null); fi
  module SwiftProtobuf lib "$checkout"/*.swift
}

build() {
  case "$1" in
    peer-message)
      raftcore; protobuf
      LINK="-lRaftCore -lSwiftProtobuf" MODULE=FuzzPeerMessage module fuzz-peer-message exe \
        "$ROOT/Sources/RaftyGRPC/Generated/rafty.pb.swift" "$ROOT/Sources/RaftyGRPC/ProtoConversions.swift" \
        "$ROOT"/Fuzz/PeerMessage/*.swift ;;
    storage)
      raftcore
      local storage=()
      for file in "$ROOT"/Sources/Rafty/Storage/*.swift; do
        [ "$(basename "$file")" = DisasterRecovery.swift ] || storage+=("$file")
      done
      LINK="-lRaftCore" MODULE=Rafty module fuzz-storage exe "${storage[@]}" "$ROOT/Sources/Rafty/Node/RaftError.swift" \
        "$ROOT"/Fuzz/Storage/*.swift ;;
    kv)
      raftcore
      # KVError names RaftError: a module "Rafty" of that one file stands in for the runtime.
      module Rafty lib "$ROOT/Sources/Rafty/Node/RaftError.swift"
      LINK="-lRaftCore -lRafty" MODULE=RaftyKV module fuzz-kv exe "$ROOT"/Sources/RaftyKV/Store/{ByteCoding,KVCommand,KVQuery,KVResult}.swift \
        "$ROOT"/Sources/RaftyKV/{KVError,KVLimits}.swift "$ROOT/Sources/RaftyKV/HTTP/PercentEncoding.swift" "$ROOT"/Fuzz/KV/*.swift ;;
    *) echo "fuzz: unknown target $1 (peer-message, storage, kv)" >&2; exit 2 ;;
  esac
}

status=0
for target in "${TARGETS[@]}"; do
  build "$target"
  corpus="$OUT/corpus/$target"
  mkdir -p "$corpus"
  seeds=()
  [ -d "$ROOT/Fuzz/Corpus/$target" ] && seeds=("$ROOT/Fuzz/Corpus/$target")
  echo "fuzz: running $target for ${SECONDS_EACH}s" >&2
  if ! (cd "$OUT" && ASAN_OPTIONS=detect_leaks=0 "./fuzz-$target" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$OUT/crash-$target-" -print_final_stats=1 "$corpus" "${seeds[@]}" 2>"$OUT/$target.log"); then
    echo "fuzz: $target FAILED (log: $OUT/$target.log)" >&2
    tail -40 "$OUT/$target.log" >&2
    status=1
  fi
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$OUT/$target.log" | sed "s/^/fuzz: $target /" >&2 || true
done
exit $status
