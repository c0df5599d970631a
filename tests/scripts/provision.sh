#!/usr/bin/env bash
# Provisions everything rill's end-to-end harness (crate rill-e2e) needs:
#   - Debian packages: MIT Kerberos KDC and tools, kcat, openssl (apt-get)
#   - Apache Kafka jars (broker, tools, clients) from Maven Central, plus the
#     Java probe, under target/kafka/<version>/libs/
#   - a Python virtualenv with kafka-python and confluent-kafka under target/venv
# Idempotent: each step is skipped when its result is already in place, so a
# second run downloads nothing.
#
# Environment:
#   RILL_KAFKA_VERSION   Kafka version the tests use (default 4.3.1)
#   RILL_KAFKA_VERSIONS  space-separated versions to provision (default: RILL_KAFKA_VERSION);
#                        supported: 4.x (e.g. 4.3.1), 3.9.x (e.g. 3.9.1) and 2.8.x (e.g. 2.8.2, ZooKeeper mode)
#   RILL_SKIP_PYTHON=1   do not create the Python virtualenv
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
workspace="$(cd "$here/../.." && pwd)"
target="$workspace/target"
kafka_version="${RILL_KAFKA_VERSION:-4.3.1}"
kafka_versions="${RILL_KAFKA_VERSIONS:-$kafka_version}"

log() { echo "provision: $*" >&2; }

# --- Debian packages -------------------------------------------------------
apt_packages=(krb5-kdc krb5-admin-server krb5-user libsasl2-modules-gssapi-mit kcat openssl python3-venv)
command -v java >/dev/null 2>&1 || apt_packages+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null 2>&1 || apt_packages+=(maven)
missing=()
for package in "${apt_packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if ((${#missing[@]})); then
    log "installing Debian packages: ${missing[*]}"
    sudo_cmd=()
    [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    log "Debian packages already installed"
fi

# --- Kafka from Maven Central ---------------------------------------------
# The stamp records what produced libs/: a changed pom or probe source rebuilds.
inputs_hash="$(cat "$workspace/tests/kafka/pom.xml" $(find "$workspace/tests/kafka/src" -type f | sort) | sha256sum | cut -d' ' -f1)"
for version in $kafka_versions; do
    home="$target/kafka/$version"
    stamp="$home/libs/.provisioned"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$inputs_hash" ]]; then
        log "Kafka $version already provisioned in $home/libs"
        continue
    fi
    profile=()
    case "$version" in
        2.*|3.*) profile=(-Pkafka3) ;;
    esac
    log "resolving Kafka $version from Maven Central into $home/libs"
    rm -rf "$home/libs" "$home/build"
    mvn -q -B -f "$workspace/tests/kafka/pom.xml" -Dkafka.version="$version" "${profile[@]}" package
    test -f "$home/libs/kafka_2.13-$version.jar" || { log "kafka_2.13-$version.jar missing after Maven run"; exit 1; }
    test -f "$home/libs/kafka-tools-$version.jar" || { log "kafka-tools-$version.jar missing after Maven run"; exit 1; }
    test -f "$home/libs/rill-kafka-probe.jar" || { log "probe jar missing after Maven run"; exit 1; }
    echo "$inputs_hash" > "$stamp"
done

# --- Python interop runners ------------------------------------------------
if [[ "${RILL_SKIP_PYTHON:-0}" != 1 ]]; then
    venv="$target/venv"
    python_packages=(kafka-python confluent-kafka)
    if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c 'import kafka, confluent_kafka' 2>/dev/null; then
        log "Python virtualenv already provisioned in $venv"
    else
        log "creating Python virtualenv in $venv with ${python_packages[*]}"
        python3 -m venv "$venv"
        "$venv/bin/python" -m pip install -q --upgrade pip >/dev/null
        "$venv/bin/python" -m pip install -q "${python_packages[@]}"
        "$venv/bin/python" -c 'import kafka, confluent_kafka'
    fi
fi

log "done"
