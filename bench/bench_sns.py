"""SNS -> SQS fan-out: Cloudlet vs moto's server, side by side in one run.

One topic with ten SQS subscriptions (raw message delivery). Workloads:

- throughput: publishers send messages for a while (Publish, and PublishBatch of ten) while ten
  consumers (one per queue) receive and delete; the figure is messages published per second *that
  reached all ten queues* (so 10x as many deliveries), from the first publish to the last receive;
- latency: one Publish, then the time until all ten waiting long polls returned it (p50/p99).

Target (issue 13): at least 3x moto. Cloudlet's Publish commits the message and its outbox rows and
answers; its delivery worker then enqueues into each queue as its own durable SQS write, where moto
appends to ten in-memory lists before answering. The client is lean (SigV4 with hmac on keep-alive
connections; SQS calls through common's JSON client) so both servers get the same signed requests.

    .venv/bin/python bench/bench_sns.py [--seconds 4] [--samples 30]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import hmac
import http.client
import json
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from common import JsonClient, MotoServer, percentile, report

from tests.support import CloudletProcess

QUEUES = 10
RATIO_TARGET = 3.0


class SnsClient:
    """A minimal SNS query-protocol client on one keep-alive connection (JSON answers are not offered:
    the few fields needed are read from the XML)."""

    def __init__(self, endpoint: str, key: str, secret: str, region: str) -> None:
        parts = urlsplit(endpoint)
        self.host = parts.netloc
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        self.key, self.secret, self.region = key, secret, region

    def call(self, action: str, params: dict[str, str]) -> str:
        body = urlencode({"Action": action, "Version": "2010-03-31", **params}).encode()
        amz_date = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        day = amz_date[:8]
        key = hmac.digest(("AWS4" + self.secret).encode(), day.encode(), "sha256")
        for part in (self.region, "sns", "aws4_request"):
            key = hmac.digest(key, part.encode(), "sha256")
        content_type = "application/x-www-form-urlencoded; charset=utf-8"
        canonical = (f"POST\n/\n\ncontent-type:{content_type}\nhost:{self.host}\nx-amz-date:{amz_date}\n\n"
                     f"content-type;host;x-amz-date\n{hashlib.sha256(body).hexdigest()}")
        scope = f"{day}/{self.region}/sns/aws4_request"
        to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        signature = hmac.digest(key, to_sign.encode(), "sha256").hex()
        headers = {"Content-Type": content_type, "X-Amz-Date": amz_date,
                   "Authorization": f"AWS4-HMAC-SHA256 Credential={self.key}/{scope}, "
                                    f"SignedHeaders=content-type;host;x-amz-date, Signature={signature}"}
        self.connection.request("POST", "/", body, headers)
        response = self.connection.getresponse()
        data = response.read().decode()
        if response.status != 200:
            raise RuntimeError(f"{action}: {response.status} {data[:300]}")
        return data


def sqs_client(endpoint: str, key: str, secret: str, region: str) -> JsonClient:
    return JsonClient(endpoint, key, secret, region, service="sqs", target_prefix="AmazonSQS")


def _between(text: str, tag: str) -> str:
    return text.split(f"<{tag}>", 1)[1].split(f"</{tag}>", 1)[0]


class Target:
    """One server's topic with ten subscribed queues."""

    def __init__(self, make_sns: Callable[[], SnsClient], make_sqs: Callable[[], JsonClient]) -> None:
        self.make_sns, self.make_sqs = make_sns, make_sqs
        sns, sqs = make_sns(), make_sqs()
        tag = uuid.uuid4().hex[:8]
        self.topic = _between(sns.call("CreateTopic", {"Name": f"fanout-{tag}"}), "TopicArn")
        self.urls = []
        for index in range(QUEUES):
            url = sqs.call("CreateQueue", {"QueueName": f"fanout-{tag}-{index}"})["QueueUrl"]
            arn = sqs.call("GetQueueAttributes", {"QueueUrl": url, "AttributeNames": ["QueueArn"]}
                           )["Attributes"]["QueueArn"]
            policy = {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
                "Resource": arn, "Condition": {"ArnEquals": {"aws:SourceArn": self.topic}}}]}
            sqs.call("SetQueueAttributes", {"QueueUrl": url, "Attributes": {"Policy": json.dumps(policy)}})
            sns.call("Subscribe", {"TopicArn": self.topic, "Protocol": "sqs", "Endpoint": arn,
                                   "Attributes.entry.1.key": "RawMessageDelivery",
                                   "Attributes.entry.1.value": "true"})
            self.urls.append(url)


def _consume(client: JsonClient, url: str, wanted: int, deadline: float, counts: list[int],
             index: int) -> None:
    while counts[index] < wanted and time.perf_counter() < deadline:
        messages = client.call("ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": 10,
                                                  "WaitTimeSeconds": 1}).get("Messages", [])
        if messages:
            client.call("DeleteMessageBatch", {"QueueUrl": url, "Entries": [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]})
            counts[index] += len(messages)


def throughput(target: Target, batch: int, publishers: int, seconds: float) -> float:
    """Messages per second published and received by all ten queues."""
    consumers = [target.make_sqs() for _ in range(QUEUES)]
    senders = [target.make_sns() for _ in range(publishers)]
    published = [0] * publishers
    counts = [0] * QUEUES
    stop = time.perf_counter() + seconds

    def publish(index: int) -> None:
        client = senders[index]
        while time.perf_counter() < stop:
            if batch == 1:
                client.call("Publish", {"TopicArn": target.topic, "Message": "payload " * 16})
            else:
                entries: dict[str, str] = {"TopicArn": target.topic}
                for i in range(1, batch + 1):
                    entries[f"PublishBatchRequestEntries.member.{i}.Id"] = str(i)
                    entries[f"PublishBatchRequestEntries.member.{i}.Message"] = "payload " * 16
                client.call("PublishBatch", entries)
            published[index] += batch

    begun = time.perf_counter()
    threads = [threading.Thread(target=publish, args=(i,)) for i in range(publishers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = sum(published)
    deadline = time.perf_counter() + 120
    readers = [threading.Thread(target=_consume, args=(consumers[i], target.urls[i], total, deadline, counts, i))
               for i in range(QUEUES)]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join()
    elapsed = time.perf_counter() - begun
    if min(counts) < total:
        raise RuntimeError(f"only {min(counts)} of {total} messages reached every queue")
    return total / elapsed


def latencies(target: Target, samples: int) -> list[float]:
    """Seconds from a Publish's answer until all ten waiting long polls returned the message."""
    sns = target.make_sns()
    consumers = [target.make_sqs() for _ in range(QUEUES)]
    measured = []
    for _ in range(samples):
        arrivals: list[float] = []
        lock = threading.Lock()

        def wait(client: JsonClient, url: str, arrivals: list[float] = arrivals,
                 lock: threading.Lock = lock) -> None:
            while True:
                messages = client.call("ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": 1,
                                                          "WaitTimeSeconds": 20}).get("Messages", [])
                if messages:
                    break
            with lock:
                arrivals.append(time.perf_counter())
            client.call("DeleteMessage", {"QueueUrl": url, "ReceiptHandle": messages[0]["ReceiptHandle"]})

        waiters = [threading.Thread(target=wait, args=(consumers[i], target.urls[i])) for i in range(QUEUES)]
        for waiter in waiters:
            waiter.start()
        time.sleep(0.1)                       # the polls are waiting now
        sns.call("Publish", {"TopicArn": target.topic, "Message": "ping"})
        sent = time.perf_counter()
        for waiter in waiters:
            waiter.join()
        measured.append(max(0.0, max(arrivals) - sent))
    return measured


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=4.0, help="how long publishers publish")
    parser.add_argument("--publishers", type=int, default=2, help="concurrent publishers")
    parser.add_argument("--samples", type=int, default=30, help="fan-out latencies to time")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-sns-"))
    moto = MotoServer()
    cloud = CloudletProcess(workdir / "data", extra_env={"CLOUDLET_LOG": "WARNING"}).start()
    try:
        creds = cloud.root_credentials()
        targets = {
            "cloudlet": Target(
                lambda: SnsClient(cloud.endpoint, creds.access_key_id, creds.secret_access_key, cloud.region),
                lambda: sqs_client(cloud.endpoint, creds.access_key_id, creds.secret_access_key,
                                   cloud.region)),
            "moto": Target(lambda: SnsClient(moto.endpoint, "testing", "testing", "us-east-1"),
                           lambda: sqs_client(moto.endpoint, "testing", "testing", "us-east-1")),
        }
        rows = []
        for batch in (1, 10):
            label = "PublishBatch of 10" if batch == 10 else "Publish"
            rates = {name: throughput(target, batch, args.publishers, args.seconds) for name, target in targets.items()}
            rows.append((label, rates))
            print(f"  {label:<20} cloudlet {rates['cloudlet']:7.0f} msg/s   moto {rates['moto']:7.0f} msg/s", flush=True)
        delays = {name: latencies(target, args.samples) for name, target in targets.items()}
    finally:
        cloud.stop()
        moto.stop()
    summarize(rows, delays, args)


def summarize(rows: list[tuple[str, dict[str, float]]], delays: dict[str, list[float]], args: Any) -> None:
    print(f"\n== SNS -> SQS fan-out to {QUEUES} queues: Cloudlet vs moto, messages published per second that "
          f"reached all {QUEUES} queues ({args.publishers} publishers, {args.seconds:.0f} s, 2 cores shared)")
    print(f"{'workload':<22} {'cloudlet':>10} {'moto':>10} {'vs moto':>9}")
    ratios = []
    for label, rates in rows:
        ratio = rates["cloudlet"] / rates["moto"] if rates["moto"] else float("inf")
        ratios.append(ratio)
        print(f"{label:<22} {rates['cloudlet']:10.0f} {rates['moto']:10.0f} {ratio:8.1f}x")
        report(f"SNS {label}, fan-out to {QUEUES} queues, {args.publishers} publishers: msg/s over moto's",
               ratio, "x", at_least=RATIO_TARGET, cloudlet_msg_per_s=round(rates["cloudlet"]),
               moto_msg_per_s=round(rates["moto"]))
    print(f"\nPublish -> received by all {QUEUES} waiting long polls ({args.samples} samples)")
    p50s = {name: statistics.median(values) for name, values in delays.items()}
    p99s = {name: percentile(values, 0.99) for name, values in delays.items()}
    for name in delays:
        print(f"  {name:<10} p50 {p50s[name] * 1000:7.1f} ms   p99 {p99s[name] * 1000:7.1f} ms")
    latency_ratio = p50s["moto"] / max(p50s["cloudlet"], 1e-9)
    print(f"p50 latency, moto's / Cloudlet's: {latency_ratio:.2f} (moto enqueues before Publish answers; "
          "Cloudlet after, from its outbox)")
    report(f"SNS Publish until received by all {QUEUES} long polls: moto's p50 latency over Cloudlet's",
           latency_ratio, "x", cloudlet_p50_ms=p50s["cloudlet"] * 1000, moto_p50_ms=p50s["moto"] * 1000,
           cloudlet_p99_ms=p99s["cloudlet"] * 1000, moto_p99_ms=p99s["moto"] * 1000)
    print(f"target: >= {RATIO_TARGET:g}x moto: "
          + ("met" if min(ratios) >= RATIO_TARGET else f"NOT met (lowest {min(ratios):.1f}x)"))


if __name__ == "__main__":
    main()
