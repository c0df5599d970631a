#!/usr/bin/env python3
"""Produce records and consume them back with a Python Kafka client.

Used by rill-e2e (tests/src/interop/python.rs); also runnable by hand:

    target/venv/bin/python tests/scripts/python_client.py request.json

request.json: {"library": "kafka-python" | "confluent-kafka",
               "config": {...client configuration...},
               "topic": "t", "records": ["a", "b"], "timeout_s": 45}
Prints the consumed values as a JSON list on the last stdout line.
"""
import base64
import json
import sys
import time
import urllib.parse
import urllib.request
import uuid


def fetch_token(credentials):
    """Client-credentials grant against the harness token endpoint."""
    body = {"grant_type": "client_credentials"}
    if credentials.get("scope"):
        body["scope"] = credentials["scope"]
    basic = base64.b64encode(
        f"{credentials['client_id']}:{credentials['client_secret']}".encode()
    ).decode()
    request = urllib.request.Request(
        credentials["token_url"],
        data=urllib.parse.urlencode(body).encode(),
        headers={"Authorization": f"Basic {basic}",
                 "Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["access_token"]


def kafka_python(config, topic, records, timeout_s):
    from kafka import KafkaConsumer, KafkaProducer
    try:
        from kafka.net.sasl.oauth import AbstractTokenProvider  # kafka-python 3.x
    except ImportError:
        from kafka.sasl.oauth import AbstractTokenProvider  # kafka-python 2.x

    config = dict(config)
    credentials = config.pop("oauth_client_credentials", None)
    if credentials:
        class Provider(AbstractTokenProvider):
            def token(self):
                return fetch_token(credentials)
        config["sasl_oauth_token_provider"] = Provider()

    producer = KafkaProducer(acks="all", **config)
    for record in records:
        producer.send(topic, record.encode()).get(timeout=timeout_s)
    producer.flush(timeout=timeout_s)
    producer.close()

    consumer = KafkaConsumer(topic, group_id=f"rill-e2e-{uuid.uuid4()}",
                             auto_offset_reset="earliest",
                             consumer_timeout_ms=timeout_s * 1000, **config)
    values = []
    for message in consumer:
        values.append(message.value.decode())
        if len(values) == len(records):
            break
    consumer.close()
    return values


def confluent(config, topic, records, timeout_s):
    from confluent_kafka import Consumer, KafkaException, Producer

    errors = []
    producer = Producer({**config, "acks": "all", "error_cb": errors.append})

    def delivered(error, _message):
        if error is not None:
            errors.append(error)

    for record in records:
        producer.produce(topic, record.encode(), on_delivery=delivered)
    remaining = producer.flush(timeout_s)
    if remaining or errors:
        raise KafkaException(f"{remaining} undelivered, errors: {errors}")

    consumer = Consumer({**config, "group.id": f"rill-e2e-{uuid.uuid4()}",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    values = []
    deadline = time.time() + timeout_s
    while len(values) < len(records) and time.time() < deadline:
        message = consumer.poll(1.0)
        if message is None:
            continue
        if message.error():
            raise KafkaException(message.error())
        values.append(message.value().decode())
    consumer.close()
    return values


def main():
    with open(sys.argv[1]) as file:
        request = json.load(file)
    runner = {"kafka-python": kafka_python, "confluent-kafka": confluent}[request["library"]]
    values = runner(request["config"], request["topic"], request["records"],
                    request.get("timeout_s", 45))
    print(json.dumps(values))


if __name__ == "__main__":
    main()
