#!/usr/bin/env bash
# Compiles the Java programs here (Apache Kafka's kafka-clients from Maven
# Central, see pom.xml) and prints the classpath that runs them. Used by
# crates/rill-protocol/golden/regenerate.sh and benches/data/regenerate.sh.
# Needs Java 17+ and Maven on PATH.
set -euo pipefail

java_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
command -v java >/dev/null || { echo "classpath.sh: java not found on PATH" >&2; exit 1; }
command -v mvn >/dev/null || { echo "classpath.sh: mvn not found on PATH" >&2; exit 1; }
(cd "$java_dir" && mvn -q -B -Dstyle.color=never compile dependency:build-classpath -Dmdep.outputFile=target/classpath.txt >&2)
echo "$java_dir/target/classes:$(cat "$java_dir/target/classpath.txt")"
