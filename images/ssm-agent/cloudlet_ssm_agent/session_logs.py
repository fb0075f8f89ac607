"""Session logging, as AWS's agent does it: a shell session's transcript goes to S3 at the session's end, and
to CloudWatch Logs (log stream = the SessionId) at its end, or while it runs when streaming is on.

Everything is signed with the machine's own role (:class:`.destinations.AwsAccess`), so the role needs
s3:PutObject, logs:CreateLogStream and logs:PutLogEvents. A destination that fails is logged and given up for
that session; the session itself never notices.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from . import log
from .destinations import AwsAccess
from .preferences import SessionPreferences
from .transcripts import Transcript, log_events
from .wire import JsonClient, ServiceError

#: How often a streamed session's new output goes to CloudWatch Logs.
STREAM_INTERVAL_SECONDS = 1.0
#: PutLogEvents' limits: bytes (each message's UTF-8 plus 26), events, and the time one batch may span.
MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD_BYTES = 26
MAX_BATCH_EVENTS = 10_000
MAX_BATCH_SPAN_MILLISECONDS = 24 * 3600 * 1000
#: Consecutive failures after which a streamed session stops trying CloudWatch (a network blip is retried).
MAX_STREAM_FAILURES = 3


def batches(events: list[tuple[int, str, int]]) -> Iterator[list[tuple[int, str, int]]]:
    """Events grouped into PutLogEvents calls that respect its limits, in order."""
    batch: list[tuple[int, str, int]] = []
    size = 0
    for event in events:
        cost = len(event[1].encode()) + EVENT_OVERHEAD_BYTES
        if batch and (size + cost > MAX_BATCH_BYTES or len(batch) >= MAX_BATCH_EVENTS
                      or event[0] - batch[0][0] > MAX_BATCH_SPAN_MILLISECONDS):
            yield batch
            batch, size = [], 0
        batch.append(event)
        size += cost
    if batch:
        yield batch


def permanent(error: Exception) -> bool:
    """Whether trying again cannot help: the service refused (missing group, no permission), not throttled."""
    return (isinstance(error, ServiceError) and error.status < 500
            and "Throttl" not in error.code and error.code != "ServiceUnavailableException")


class CloudWatchStream:
    """One session's log stream: created once (already there is fine), then fed from where it stopped."""

    def __init__(self, client: JsonClient, group: str, session_id: str, transcript: Transcript) -> None:
        self.client, self.group, self.session_id, self.transcript = client, group, session_id, transcript
        self.sent = 0  # transcript offset up to which events were stored
        self.created = False
        self.failures = 0
        self.abandoned = False
        self.done = False  # the final flush happened: a streaming flush that comes late must not read on
        self.lock = threading.Lock()  # the streaming thread and the session's end both flush

    def flush(self, final: bool) -> None:
        """Sends what is new (complete lines, or everything when ``final``); failures are logged, retried on
        the next flush while they look passing, and end CloudWatch logging for the session otherwise."""
        with self.lock:
            if self.abandoned or self.done:
                return
            self.done = final
            try:
                self.send_new(final)
                self.failures = 0
            except Exception as error:  # whatever happens here, the session goes on
                self.failures += 1
                if final or permanent(error) or self.failures >= MAX_STREAM_FAILURES:
                    self.abandoned = True
                    log(f"session {self.session_id}: not logged to CloudWatch Logs group {self.group}: "
                        f"{error}; check the log group and the instance's role")
                else:
                    log(f"session {self.session_id}: CloudWatch Logs failed ({error}); trying again")

    def send_new(self, final: bool) -> None:
        if not self.created:
            try:
                self.client.call("CreateLogStream", {"logGroupName": self.group,
                                                     "logStreamName": self.session_id})
            except ServiceError as error:
                if error.code != "ResourceAlreadyExistsException":
                    raise
            self.created = True
        stop = self.transcript.size
        while self.sent < stop:
            events, _ = log_events(self.transcript, self.sent, stop, final)
            if not events:
                return  # only an unfinished line is left: it goes with the rest of it
            for batch in batches(events):
                answer = self.client.call("PutLogEvents", {
                    "logGroupName": self.group, "logStreamName": self.session_id,
                    "logEvents": [{"timestamp": stamp, "message": message} for stamp, message, _ in batch]})
                self.sent = batch[-1][2]
                if answer.get("rejectedLogEventsInfo"):
                    log(f"session {self.session_id}: CloudWatch Logs rejected some events: "
                        f"{answer['rejectedLogEventsInfo']}")


class SessionLog:
    """A shell session's transcript and its destinations: :meth:`record` what the shell prints, :meth:`start`
    streaming when asked, :meth:`finish` once the session ended (it uploads, so it may take a moment)."""

    def __init__(self, session_id: str, preferences: SessionPreferences, access: AwsAccess) -> None:
        self.session_id, self.preferences, self.access = session_id, preferences, access
        self.transcript = Transcript()
        self.cloudwatch = (CloudWatchStream(access.logs(), preferences.log_group, session_id, self.transcript)
                           if preferences.log_group else None)
        self.stop_streaming = threading.Event()
        self.streamer: threading.Thread | None = None

    def record(self, data: bytes) -> None:
        self.transcript.append(data)

    def start(self) -> None:
        if self.cloudwatch is not None and self.preferences.cloudwatch_streaming:
            self.streamer = threading.Thread(target=self.stream, daemon=True,
                                             name=f"session-{self.session_id}-logs")
            self.streamer.start()

    def stream(self) -> None:
        assert self.cloudwatch is not None
        while not self.stop_streaming.wait(STREAM_INTERVAL_SECONDS):
            self.cloudwatch.flush(final=False)

    def finish(self) -> None:
        """The rest to CloudWatch, the whole transcript to S3, then the transcript dropped."""
        self.stop_streaming.set()
        try:
            if self.cloudwatch is not None:
                self.cloudwatch.flush(final=True)
            if self.preferences.s3_bucket:
                self.upload()
        finally:
            self.transcript.close()

    def upload(self) -> None:
        bucket, key = self.preferences.s3_bucket, self.preferences.s3_key(self.session_id)
        size = self.transcript.size
        try:
            self.access.put_object(bucket, key, lambda: self.transcript.chunks(size))
        except Exception as error:  # a log that cannot be stored must not break the session's end
            log(f"session {self.session_id}: transcript not stored in s3://{bucket}/{key}: {error}; "
                "check the bucket and the instance's role")
            return
        log(f"session {self.session_id}: transcript stored in s3://{bucket}/{key} ({size} bytes)")

    def describe(self) -> str:
        """Where this session logs, for the agent's own log line."""
        where = []
        if self.preferences.s3_bucket:
            where.append(f"s3://{self.preferences.s3_bucket}/{self.preferences.s3_key(self.session_id)}")
        if self.preferences.log_group:
            streamed = " (streamed)" if self.preferences.cloudwatch_streaming else ""
            where.append(f"CloudWatch Logs {self.preferences.log_group}/{self.session_id}{streamed}")
        return " and ".join(where)
