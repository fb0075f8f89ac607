"""SQS throughput and long-poll latency: Cloudlet vs moto's server, side by side in one run.

Workloads, each for standard and FIFO queues: messages that go the whole way (sent, received,
deleted) per second, singly (SendMessage, ReceiveMessage of 1, DeleteMessage) and in batches of
ten (SendMessageBatch, ReceiveMessage of 10, DeleteMessageBatch), with a few concurrent streams;
then the wake-up latency of a long poll: how long after a send commits a waiting ReceiveMessage
returns the message. Targets (issue 13): at least 3x moto, and FIFO with batching at or above
3,000 messages/s on these 2 cores.

The client is deliberately lean (one keep-alive connection per stream, JSON bodies, SigV4 signed
with hmac) so that, on the same 2 cores as the servers, it costs both servers equally and little;
boto3 would spend more CPU than either server. Both servers get the same signed requests.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from common import JsonClient, MotoServer, percentile, report

from tests.support import CloudletProcess

RATIO_TARGET = 3.0
FIFO_BATCHED_TARGET = 3000.0


def make_queue(client: JsonClient, name: str, fifo: bool) -> str:
    attributes = {"FifoQueue": "true", "DeduplicationScope": "messageGroup",
                  "FifoThroughputLimit": "perMessageGroupId"} if fifo else {}
    return client.call("CreateQueue", {"QueueName": name + (".fifo" if fifo else ""),
                                       "Attributes": attributes})["QueueUrl"]


def cycle(client: JsonClient, url: str, fifo: bool, batch: int, stream: int) -> int:
    """Send ``batch`` messages, receive and delete them all; returns how many went the whole way."""
    def extras(i: int) -> dict[str, str]:
        return {"MessageGroupId": f"s{stream}-{i % 4}", "MessageDeduplicationId": uuid.uuid4().hex} if fifo else {}

    if batch == 1:
        client.call("SendMessage", {"QueueUrl": url, "MessageBody": "payload " * 16, **extras(0)})
    else:
        client.call("SendMessageBatch", {"QueueUrl": url, "Entries": [
            {"Id": str(i), "MessageBody": "payload " * 16, **extras(i)} for i in range(batch)]})
    done = 0
    attempts = 0
    while done < batch and attempts < 50:
        attempts += 1
        messages = client.call("ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": batch,
                                                  "VisibilityTimeout": 30}).get("Messages", [])
        if not messages:
            continue
        if batch == 1:
            client.call("DeleteMessage", {"QueueUrl": url, "ReceiptHandle": messages[0]["ReceiptHandle"]})
        else:
            client.call("DeleteMessageBatch", {"QueueUrl": url, "Entries": [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]})
        done += len(messages)
    return done


def throughput(make_client: Any, fifo: bool, batch: int, streams: int, seconds: float) -> float:
    """Messages per second through send+receive+delete, each stream on its own queue."""
    clients = [make_client() for _ in range(streams)]
    urls = [make_queue(client, f"bench-{uuid.uuid4().hex[:8]}", fifo) for client in clients]
    for index, (client, url) in enumerate(zip(clients, urls, strict=True)):
        cycle(client, url, fifo, batch, index)   # warm-up
    counts = [0] * streams
    stop = time.perf_counter() + seconds
    barrier = threading.Barrier(streams + 1)

    def run(index: int) -> None:
        barrier.wait()
        while time.perf_counter() < stop:
            counts[index] += cycle(clients[index], urls[index], fifo, batch, index)

    workers = [threading.Thread(target=run, args=(i,)) for i in range(streams)]
    for worker in workers:
        worker.start()
    begun = time.perf_counter()
    barrier.wait()
    for worker in workers:
        worker.join()
    return sum(counts) / (time.perf_counter() - begun)


def wake_up_latencies(make_client: Any, samples: int) -> list[float]:
    """Seconds from a send's answer to the waiting long poll's answer carrying that message."""
    producer, consumer = make_client(), make_client()
    url = make_queue(producer, f"bench-poll-{uuid.uuid4().hex[:8]}", False)
    latencies: list[float] = []
    for _ in range(samples):
        received: list[float] = []

        def wait(arrivals: list[float] = received) -> None:
            consumer.call("ReceiveMessage", {"QueueUrl": url, "WaitTimeSeconds": 20, "MaxNumberOfMessages": 1})
            arrivals.append(time.perf_counter())

        waiter = threading.Thread(target=wait)
        waiter.start()
        time.sleep(0.05)                       # the poll is waiting now
        producer.call("SendMessage", {"QueueUrl": url, "MessageBody": "ping"})
        sent = time.perf_counter()
        waiter.join()
        latencies.append(max(0.0, received[0] - sent))
        _drain(producer, url)
    return latencies


def _drain(client: JsonClient, url: str) -> None:
    while True:
        messages = client.call("ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": 10}).get("Messages", [])
        if not messages:
            return
        client.call("DeleteMessageBatch", {"QueueUrl": url, "Entries": [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=4.0, help="duration of each measurement")
    parser.add_argument("--streams", type=int, default=8, help="concurrent producer/consumer streams")
    parser.add_argument("--samples", type=int, default=40, help="long-poll wake-ups to time")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-sqs-"))
    moto = MotoServer()
    cloud = CloudletProcess(workdir / "data", extra_env={"CLOUDLET_LOG": "WARNING"}).start()
    try:
        creds = cloud.root_credentials()
        targets = {
            "cloudlet": lambda: JsonClient(cloud.endpoint, creds.access_key_id, creds.secret_access_key, cloud.region,
                                         service="sqs", target_prefix="AmazonSQS"),
            "moto": lambda: JsonClient(moto.endpoint, "testing", "testing", "us-east-1", service="sqs",
                                     target_prefix="AmazonSQS"),
        }
        rows = []
        for fifo in (False, True):
            for batch in (1, 10):
                label = f"{'FIFO' if fifo else 'standard'}, {'batches of 10' if batch == 10 else 'single'}"
                rates = {name: throughput(make, fifo, batch, args.streams, args.seconds)
                         for name, make in targets.items()}
                rows.append((label, rates))
                print(f"  {label:<26} cloudlet {rates['cloudlet']:7.0f} msg/s   moto {rates['moto']:7.0f} msg/s",
                      flush=True)
        latencies = {name: wake_up_latencies(make, args.samples) for name, make in targets.items()}
    finally:
        cloud.stop()
        moto.stop()
    summarize(rows, latencies, args)


def summarize(rows: list[tuple[str, dict[str, float]]], latencies: dict[str, list[float]], args: Any) -> None:
    print(f"\n== SQS: Cloudlet vs moto, messages sent+received+deleted per second ({args.streams} streams, "
          f"{args.seconds:.0f} s each, 2 cores shared by servers and client)")
    print(f"{'workload':<28} {'cloudlet':>10} {'moto':>10} {'vs moto':>9}")
    for label, rates in rows:
        ratio = rates["cloudlet"] / rates["moto"] if rates["moto"] else float("inf")
        print(f"{label:<28} {rates['cloudlet']:10.0f} {rates['moto']:10.0f} {ratio:8.1f}x")
        report(f"SQS {label}, {args.streams} streams: messages/s over moto's", ratio, "x",
               at_least=RATIO_TARGET, cloudlet_msg_per_s=round(rates["cloudlet"]),
               moto_msg_per_s=round(rates["moto"]))
    fifo_batched = dict(rows)["FIFO, batches of 10"]["cloudlet"]
    report(f"SQS FIFO, batches of 10, {args.streams} streams: messages/s sent+received+deleted", fifo_batched,
           "msg/s", at_least=FIFO_BATCHED_TARGET)
    print(f"\nlong-poll wake-up after a send ({args.samples} samples)")
    p50s = {name: statistics.median(values) for name, values in latencies.items()}
    p99s = {name: percentile(values, 0.99) for name, values in latencies.items()}
    for name in latencies:
        print(f"  {name:<10} p50 {p50s[name] * 1000:7.1f} ms   p99 {p99s[name] * 1000:7.1f} ms")
    report("SQS long-poll wake-up after a send: p50 latency", p50s["cloudlet"] * 1000, "ms",
           cloudlet_p99_ms=p99s["cloudlet"] * 1000, moto_p50_ms=p50s["moto"] * 1000,
           moto_p99_ms=p99s["moto"] * 1000)
    ratios = [rates["cloudlet"] / rates["moto"] for _, rates in rows if rates["moto"]]
    lowest = min(ratios)
    print(f"targets: >= {RATIO_TARGET:g}x moto: "
          + ("met" if lowest >= RATIO_TARGET else f"NOT met (lowest {lowest:.1f}x)")
          + f"; FIFO batched >= {FIFO_BATCHED_TARGET:,.0f} msg/s: "
          + ("met" if fifo_batched >= FIFO_BATCHED_TARGET else f"NOT met ({fifo_batched:.0f})"))


if __name__ == "__main__":
    main()
