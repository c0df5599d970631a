#!/usr/bin/env bash
# Rebuilds the golden vectors in crates/rill-protocol/tests/golden/ from Apache Kafka's
# own Java code (kafka-clients 4.3.1, see java/pom.xml). Deterministic: running it twice
# gives identical files. Needs Java 17+ and Maven on PATH.
#
#   crates/rill-protocol/golden/regenerate.sh          rewrite the committed vectors
#   crates/rill-protocol/golden/regenerate.sh --check  fail if they differ from a fresh run
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$here/../tests/golden"
classpath="$("$here/java/classpath.sh")"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# slf4j's "no binding" notice goes to stderr; keep stdout for the self-check summary.
java -cp "$classpath" rill.golden.Main generate "$tmp/golden" 2> >(grep -v '^SLF4J' >&2)

if [[ "${1:-}" == "--check" ]]; then
    diff -r -x README.md -x "*.rs" "$tmp/golden" "$out" && echo "golden vectors are up to date"
    exit
fi

mkdir -p "$out"
rm -f "$out"/*.bin "$out/manifest.txt" "$out/records.txt"
cp "$tmp/golden"/* "$out"/
echo "wrote $(ls "$out"/*.bin | wc -l) vectors to $out"
