"""Bucket lifecycle: the configuration S3 accepts, and a background sweep that applies it.

What is applied: ``Expiration`` (Days or Date; in a versioned bucket the current
version gets a delete marker), ``ExpiredObjectDeleteMarker``,
``NoncurrentVersionExpiration`` (NoncurrentDays, NewerNoncurrentVersions), storage
class ``Transitions`` of current and noncurrent versions (the class is recorded; all
data stays on the same storage), and ``AbortIncompleteMultipartUpload``. Filters:
prefix, one tag, and ``And`` of prefix, tags and object size bounds.

Time: S3 acts once a day on objects older than N days (rounded up to the next
midnight UTC). Here a sweep runs every ``s3_lifecycle_interval`` seconds and a "day"
lasts ``s3_lifecycle_day_seconds`` (86400 unless a test shortens it). Each change is
re-checked inside its own write transaction, so a sweep never removes a version that
a client replaced meanwhile.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update

from controller.s3 import catalog
from controller.s3.errors import InvalidArgument, MalformedXML
from controller.s3.naming import STORAGE_CLASSES
from controller.s3.paging import Position
from controller.s3.runtime import S3Runtime, runtime
from controller.s3.state import buckets, objects, parts, uploads
from controller.state import utcnow

if TYPE_CHECKING:
    from controller.cloud import Cloud

log = logging.getLogger(__name__)

Rule = dict[str, Any]
MAX_RULES = 1000
_BATCH = 500


# --- configuration ---------------------------------------------------------------------------------------


def check_configuration(configuration: dict[str, Any]) -> list[Rule]:
    """The rules of a PutBucketLifecycleConfiguration body, refusing what S3 refuses."""
    rules = configuration.get("Rules") or []
    if not rules or len(rules) > MAX_RULES:
        raise MalformedXML("The XML you provided was not well-formed or did not validate against our published "
                           "schema")
    seen: set[str] = set()
    for rule in rules:
        rule_id = rule.get("ID") or ""
        if len(rule_id) > 255:
            raise InvalidArgument("ID length should not exceed allowed limit of 255", ArgumentName="ID",
                                  ArgumentValue=rule_id)
        if rule_id and rule_id in seen:
            raise InvalidArgument("Rule ID must be unique. Found same ID for more than one rule",
                                  ArgumentName="ID", ArgumentValue=rule_id)
        seen.add(rule_id)
        if rule.get("Status") not in ("Enabled", "Disabled"):
            raise MalformedXML("The XML you provided was not well-formed or did not validate against our "
                               "published schema")
        if "Filter" in rule and "Prefix" in rule:
            raise MalformedXML("The XML you provided was not well-formed or did not validate against our "
                               "published schema")
        actions = ("Expiration", "Transitions", "NoncurrentVersionExpiration", "NoncurrentVersionTransitions",
                   "AbortIncompleteMultipartUpload")
        if not any(rule.get(action) for action in actions):
            raise InvalidArgument("At least one action needs to be specified in a rule", ArgumentName="Action",
                                  ArgumentValue="null")
        expiration = rule.get("Expiration") or {}
        _check_time(expiration, "Expiration")
        if expiration.get("ExpiredObjectDeleteMarker") is not None and (
                expiration.get("Days") is not None or expiration.get("Date") is not None):
            # ExpiredObjectDeleteMarker "cannot be specified with Days or Date" (API reference, LifecycleExpiration)
            raise MalformedXML("The XML you provided was not well-formed or did not validate against our "
                               "published schema")
        for transition in (rule.get("Transitions") or []) + (rule.get("NoncurrentVersionTransitions") or []):
            _check_time(transition, "Transition")
            if transition.get("StorageClass") not in STORAGE_CLASSES:
                raise MalformedXML("The XML you provided was not well-formed or did not validate against our "
                                   "published schema")
        _check_infrequent_access(rule)
        tag_keys = [tag.get("Key") for tag in ((rule.get("Filter") or {}).get("And") or {}).get("Tags") or []]
        if len(tag_keys) != len(set(tag_keys)):
            raise InvalidArgument("Duplicate Tag Keys are not allowed.", ArgumentName="Tags")
        noncurrent = rule.get("NoncurrentVersionExpiration") or {}
        if "NoncurrentDays" in noncurrent and noncurrent["NoncurrentDays"] <= 0:
            raise InvalidArgument("'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive "
                                  "integer", ArgumentName="NoncurrentDays",
                                  ArgumentValue=str(noncurrent["NoncurrentDays"]))
    return rules


def _check_infrequent_access(rule: Rule) -> None:
    """Objects go to the infrequent-access classes after 30 days at the earliest (S3's minimum)."""
    for member, days_member, action in (("Transitions", "Days", "Transition"),
                                        ("NoncurrentVersionTransitions", "NoncurrentDays",
                                         "NoncurrentVersionTransition")):
        for transition in rule.get(member) or []:
            days, storage_class = transition.get(days_member), transition.get("StorageClass")
            if storage_class in ("STANDARD_IA", "ONEZONE_IA") and days is not None and days < 30:
                raise InvalidArgument(f"'{days_member}' in {action} action must be greater than or equal to 30 "
                                      f"for storageClass '{storage_class}'", ArgumentName=days_member,
                                      ArgumentValue=str(days))


def _check_time(action: dict[str, Any] | None, what: str) -> None:
    if not action:
        return
    days, date = action.get("Days"), action.get("Date")
    if days is not None and date is not None:
        raise MalformedXML("The XML you provided was not well-formed or did not validate against our published "
                           "schema")
    if days is not None and (days <= 0 if what == "Expiration" else days < 0):
        raise InvalidArgument(f"'Days' for {what} action must be a positive integer", ArgumentName="Days",
                              ArgumentValue=str(days))
    if date is not None and (date.hour, date.minute, date.second, date.microsecond) != (0, 0, 0, 0):
        raise InvalidArgument("'Date' must be at midnight GMT", ArgumentName="Date", ArgumentValue=str(date))


def rules_to_json(rules: list[Rule]) -> list[Rule]:
    """Rules with their ``Date`` values as ISO text (the state store keeps JSON)."""
    return [_map_dates(rule, lambda date: date.isoformat()) for rule in rules]


def stored_rules(lifecycle: dict[str, Any] | None) -> list[Rule]:
    """A bucket's stored lifecycle rules, dates restored."""
    return [_map_dates(rule, dt.datetime.fromisoformat) for rule in (lifecycle or {}).get("Rules") or []]


def _map_dates(rule: Rule, convert: Any) -> Rule:
    rule = dict(rule)
    if rule.get("Expiration") and rule["Expiration"].get("Date") is not None:
        rule["Expiration"] = {**rule["Expiration"], "Date": convert(rule["Expiration"]["Date"])}
    if rule.get("Transitions"):
        rule["Transitions"] = [{**t, "Date": convert(t["Date"])} if t.get("Date") is not None else t
                               for t in rule["Transitions"]]
    return rule


# --- rule evaluation (pure) ------------------------------------------------------------------------------


def rule_prefix(rule: Rule) -> str:
    """The key prefix a rule applies to (the part the sweep can narrow the key range with)."""
    if "Prefix" in rule:
        return rule.get("Prefix") or ""
    criteria = rule.get("Filter") or {}
    if "And" in criteria:
        return criteria["And"].get("Prefix") or ""
    return criteria.get("Prefix") or ""


def rule_matches(rule: Rule, key: str, size: int, tags: dict[str, str] | None) -> bool:
    """Whether an object falls under the rule's filter."""
    if not key.startswith(rule_prefix(rule)):
        return False
    criteria = rule.get("Filter") or {}
    conditions = criteria.get("And") or criteria
    wanted = list(conditions.get("Tags") or [])
    if conditions.get("Tag"):
        wanted.append(conditions["Tag"])
    tags = tags or {}
    if any(tags.get(tag["Key"]) != tag.get("Value", "") for tag in wanted):
        return False
    greater, less = conditions.get("ObjectSizeGreaterThan"), conditions.get("ObjectSizeLessThan")
    if greater is not None and not size > greater:
        return False
    return not (less is not None and not size < less)


def due(since: dt.datetime, action: dict[str, Any], now: dt.datetime, day_seconds: float,
        days_member: str = "Days") -> bool:
    """Whether an action with ``Days``/``Date`` applies to something that started at ``since``."""
    if action.get("Date") is not None:
        return now >= action["Date"]
    days = action.get(days_member)
    if days is None:
        return False
    try:
        moment = since + dt.timedelta(seconds=days * day_seconds)
        if day_seconds == 86400:  # S3 rounds up to the next midnight UTC
            midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
            moment = midnight if midnight == moment else midnight + dt.timedelta(days=1)
    except OverflowError:  # so many days that the moment is past the calendar's end: never
        return False
    return now >= moment


def plan_key(rules: list[Rule], versions: list[dict[str, Any]], now: dt.datetime,
             day_seconds: float) -> list[tuple[str, dict[str, Any], Any]]:
    """What the rules do to one key, given its versions newest first.

    Returns ``(action, version, argument)`` triples: ``expire`` (current version),
    ``remove`` (a noncurrent version or a lone delete marker) and ``transition``
    (argument: the new storage class).
    """
    plan: list[tuple[str, dict[str, Any], Any]] = []
    if not versions:
        return plan
    current = versions[0] if versions[0]["is_latest"] else None
    removed: set[int] = set()
    for rule in rules:
        if current is not None and not current["delete_marker"] \
                and rule_matches(rule, current["key"], current["size"], current["tags"]):
            expiration = rule.get("Expiration") or {}
            if due(current["last_modified"], expiration, now, day_seconds):
                plan.append(("expire", current, None))
                return plan
            for transition in rule.get("Transitions") or []:
                if current["storage_class"] != transition["StorageClass"] \
                        and due(current["last_modified"], transition, now, day_seconds):
                    plan.append(("transition", current, transition["StorageClass"]))
        noncurrent_rule = rule.get("NoncurrentVersionExpiration") or {}
        keep = noncurrent_rule.get("NewerNoncurrentVersions") or 0
        for index in range(1, len(versions)):
            version = versions[index]
            if version["seq"] in removed or not rule_matches(rule, version["key"], version["size"], version["tags"]):
                continue
            became_noncurrent = versions[index - 1]["last_modified"]
            if noncurrent_rule and index > keep and due(became_noncurrent, noncurrent_rule, now, day_seconds,
                                                        "NoncurrentDays"):
                plan.append(("remove", version, None))
                removed.add(version["seq"])
                continue
            for transition in rule.get("NoncurrentVersionTransitions") or []:
                if version["storage_class"] != transition["StorageClass"] \
                        and due(became_noncurrent, transition, now, day_seconds, "NoncurrentDays"):
                    plan.append(("transition", version, transition["StorageClass"]))
        expiration = rule.get("Expiration") or {}
        if current is not None and current["delete_marker"] and len(versions) == 1 \
                and expiration.get("ExpiredObjectDeleteMarker") and rule.get("Filter", {}).get("Tag") is None \
                and current["key"].startswith(rule_prefix(rule)) and current["seq"] not in removed:
            plan.append(("remove", current, None))
            removed.add(current["seq"])
    return plan


# --- the sweep -------------------------------------------------------------------------------------------


def _key_groups(rt: S3Runtime, bucket: str, prefix: str) -> Iterator[list[dict[str, Any]]]:
    """Each key's versions, newest first, in pages (no long-lived read transaction)."""
    after: Position | None = Position(prefix) if prefix else None
    pending: list[dict[str, Any]] = []
    while True:
        with rt.cloud.db.read() as conn:
            fetch = catalog.all_versions(conn, bucket)
            rows = fetch(after, None, _BATCH)
            if rows:
                seqs = [-row.rank for row in rows]
                full = conn.execute(select(objects).where(objects.c.seq.in_(seqs))).mappings().all()
        if not rows:
            break
        by_seq = {row["seq"]: dict(row) for row in full}
        for row in rows:
            if prefix and not row.key.startswith(prefix):
                if pending:
                    yield pending
                return
            version = by_seq.get(-row.rank)
            if version is None:
                continue
            if pending and pending[0]["key"] != version["key"]:
                yield pending
                pending = []
            pending.append(version)
        after = Position(rows[-1].key, rows[-1].rank)
        if len(rows) < _BATCH:
            break
    if pending:
        yield pending


def sweep(rt: S3Runtime, now: dt.datetime | None = None) -> int:
    """Apply every bucket's lifecycle rules once; returns how many changes were made."""
    now = now or utcnow()
    day_seconds = rt.cloud.config.s3_lifecycle_day_seconds
    with rt.cloud.db.read() as conn:
        configured = conn.execute(select(buckets.c.name, buckets.c.lifecycle)
                                  .where(buckets.c.lifecycle.is_not(None))).all()
    changes = 0
    for name, lifecycle in configured:
        try:
            changes += _sweep_bucket(rt, name, lifecycle, now, day_seconds)
        except Exception:  # one bucket's configuration never stops the others' sweep
            log.exception("s3 lifecycle: sweeping bucket %s failed", name)
    return changes


def _sweep_bucket(rt: S3Runtime, name: str, lifecycle: dict[str, Any], now: dt.datetime,
                  day_seconds: float) -> int:
    rules = [rule for rule in stored_rules(lifecycle) if rule.get("Status") == "Enabled"]
    if not rules:
        return 0
    changes = _abort_stale_uploads(rt, name, rules, now, day_seconds)
    prefixes = {rule_prefix(rule) for rule in rules}
    common = "" if "" in prefixes else _common_prefix(prefixes)
    for versions in _key_groups(rt, name, common):
        for action, version, argument in plan_key(rules, versions, now, day_seconds):
            changes += _apply(rt, name, action, version, argument, now)
    return changes


def _common_prefix(prefixes: set[str]) -> str:
    ordered = sorted(prefixes)
    first, last = ordered[0], ordered[-1]
    length = 0
    while length < min(len(first), len(last)) and first[length] == last[length]:
        length += 1
    return first[:length]


def _apply(rt: S3Runtime, bucket: str, action: str, version: dict[str, Any], argument: Any,
           now: dt.datetime) -> int:
    discarded: list[str] = []
    with rt.cloud.db.begin() as conn:
        still = conn.execute(select(objects.c.is_latest).where(objects.c.seq == version["seq"])).first()
        if still is None or (action == "expire" and not still.is_latest):
            return 0
        if action == "transition":
            conn.execute(update(objects).where(objects.c.seq == version["seq"]).values(storage_class=argument))
        elif action == "expire":
            bucket_row = catalog.require_bucket(conn, bucket)
            _, discarded = catalog.delete_key(conn, bucket_row, version["key"], None,
                                              owner=bucket_row["owner_account"], now=now)
        else:
            bucket_row = catalog.require_bucket(conn, bucket)
            _, discarded = catalog.delete_key(conn, bucket_row, version["key"], version["version_id"],
                                              owner=bucket_row["owner_account"], now=now)
    rt.guard.discard(discarded)
    return 1


def _abort_stale_uploads(rt: S3Runtime, bucket: str, rules: list[Rule], now: dt.datetime,
                         day_seconds: float) -> int:
    aborted = 0
    with rt.cloud.db.read() as conn:
        pending = conn.execute(select(uploads.c.upload_id, uploads.c.key, uploads.c.initiated)
                               .where(uploads.c.bucket == bucket)).all()
    for upload_id, key, initiated in pending:
        for rule in rules:
            action = rule.get("AbortIncompleteMultipartUpload")
            if action and key.startswith(rule_prefix(rule)) and \
                    due(initiated, action, now, day_seconds, "DaysAfterInitiation"):
                with rt.cloud.db.begin() as conn:
                    blobs = [blob for (blob,) in conn.execute(select(parts.c.blob)
                                                              .where(parts.c.upload_id == upload_id))]
                    conn.execute(delete(parts).where(parts.c.upload_id == upload_id))
                    conn.execute(delete(uploads).where(uploads.c.upload_id == upload_id))
                rt.guard.discard(blobs)
                aborted += 1
                break
    return aborted


def start(cloud: Cloud) -> None:
    """Startup hook: S3's runtime first (its crash recovery runs before any request), then the worker.

    The sweeper runs in the primary only: API workers do not run start hooks, and one that did gets none
    (each change is re-checked in its own transaction, so a second sweeper would only be wasted work)."""
    rt = runtime(cloud)
    if cloud.primary:
        rt.lifecycle = start_worker(rt, rt.stopping)


def start_worker(rt: S3Runtime, stopping: threading.Event) -> threading.Thread:
    """A daemon thread that sweeps every ``s3_lifecycle_interval`` seconds until ``stopping`` is set."""
    interval = rt.cloud.config.s3_lifecycle_interval

    def run() -> None:
        while not stopping.wait(interval):
            if not rt.cloud.leadership.leading:  # one controller sweeps (controller/state/leadership.py)
                continue
            try:
                changed = sweep(rt)
                if changed:
                    log.info("s3 lifecycle: %d changes", changed)
            except Exception:
                log.exception("s3 lifecycle sweep failed")

    thread = threading.Thread(target=run, name="s3-lifecycle", daemon=True)
    thread.start()
    return thread
