#!/usr/bin/env bash
# Rebuilds benches/data/java_<shape>_<codec>.bin: the record batch benchmark's
# records (bin bench-batches) written again by Apache Kafka's Java code
# (MemoryRecordsBuilder from kafka-clients, see
# crates/rill-protocol/golden/java/pom.xml) with lz4 and zstd at their
# default levels, the bytes a Java producer sends for them. The decode
# benchmarks read these, since a consumer mostly reads what the Java client
# wrote. Needs Java 17+ and Maven on PATH.
#
#   benches/data/regenerate.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/../.."
classpath="$("$root/crates/rill-protocol/golden/java/classpath.sh")"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$root" && cargo run -q --release -p rill-benches --bin bench-batches -- "$tmp")
for none in "$tmp"/*_none.bin; do
    shape="$(basename "$none" _none.bin)"
    for codec in lz4 zstd; do
        java -cp "$classpath" rill.golden.Recompress "$none" "$here/java_${shape}_${codec}.bin" "$codec" 2> >(grep -v '^SLF4J' >&2)
    done
done
ls -l "$here"/java_*.bin
