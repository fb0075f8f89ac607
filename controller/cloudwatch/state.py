"""CloudWatch's tables: metrics, their datapoints, alarms and alarm history.

A metric is one (account, region, namespace, name, dimensions) identity (``cw_metrics``), kept for
ListMetrics and so datapoints carry one integer key. Each PutMetricData datum becomes one
``cw_datapoints`` row at its own timestamp with its resolution (1 or 60 s): its statistic set, and its
values with counts (``dist``) where percentiles can be computed from them. The sweeper (``retention.py``)
later merges old rows into 60-, 300- and 3600-second rows and deletes what is past AWS's 455 days.
Times are integer milliseconds since the epoch.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Index, Integer, String, Table, Text

from controller.state import JsonText, metadata

metrics = Table(
    "cw_metrics", metadata,
    Column("metric_id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("namespace", String(255), nullable=False),
    Column("name", String(255), nullable=False),
    #: the dimensions as a JSON list of [name, value] pairs, sorted: also the identity's key
    Column("dimensions", Text, nullable=False),
    Column("last_put_at", Integer, nullable=False),
    Index("ix_cw_metrics_identity", "account_id", "region", "namespace", "name", "dimensions", unique=True),
    Index("ix_cw_metrics_name", "account_id", "region", "name"),
    sqlite_autoincrement=True,
)

datapoints = Table(
    "cw_datapoints", metadata,
    Column("datapoint_id", Integer, primary_key=True, autoincrement=True),
    Column("metric_id", Integer, nullable=False),
    Column("ts", Integer, nullable=False),
    #: seconds: 1 (high resolution), 60, or what the sweeper rolled the row up to (60, 300, 3600)
    Column("resolution", Integer, nullable=False),
    Column("unit", String(32), nullable=False),
    Column("sample_count", Float, nullable=False),
    Column("sum", Float, nullable=False),
    Column("minimum", Float, nullable=False),
    Column("maximum", Float, nullable=False),
    #: [[value, count], ...] when known (values and single values), None for statistic sets
    Column("dist", JsonText),
    Index("ix_cw_datapoints_metric", "metric_id", "ts"),
    Index("ix_cw_datapoints_age", "resolution", "ts"),
    sqlite_autoincrement=True,
)

alarms = Table(
    "cw_alarms", metadata,
    Column("arn", String(400), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("name", String(255), nullable=False),
    Column("kind", String(16), nullable=False),           # MetricAlarm | CompositeAlarm
    #: the alarm's configuration in the output shape's member names (MetricAlarm or CompositeAlarm)
    Column("config", JsonText, nullable=False),
    Column("namespace", String(255)),                      # of a single-metric alarm: DescribeAlarmsForMetric
    Column("metric_name", String(255)),
    Column("actions_enabled", Boolean, nullable=False),
    Column("state_value", String(20), nullable=False),
    Column("state_reason", Text, nullable=False),
    Column("state_reason_data", Text),
    Column("state_updated_at", Integer, nullable=False),
    Column("state_transitioned_at", Integer, nullable=False),
    Column("config_updated_at", Integer, nullable=False),
    Column("tags", JsonText, nullable=False, default=dict),
    Index("ix_cw_alarms_name", "account_id", "region", "name", unique=True),
    Index("ix_cw_alarms_metric", "account_id", "region", "namespace", "metric_name"),
)

history = Table(
    "cw_alarm_history", metadata,
    Column("history_id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("alarm_name", String(255), nullable=False),
    Column("alarm_type", String(16), nullable=False),
    Column("at", Integer, nullable=False),
    Column("item_type", String(24), nullable=False),      # ConfigurationUpdate | StateUpdate | Action
    Column("summary", Text, nullable=False),
    Column("data", Text, nullable=False),
    Index("ix_cw_history_alarm", "account_id", "region", "alarm_name", "at"),
    Index("ix_cw_history_at", "at"),
    sqlite_autoincrement=True,
)

#: What PutMetricData and ingest announce on commit: the alarm evaluator looks at every alarm again soon.
METRICS_TOPIC = "cloudwatch:metrics"
#: What alarm writes (configuration, SetAlarmState) announce: the evaluator wakes, but only alarms whose
#: inputs changed are evaluated again (so a SetAlarmState holds until the alarm's next period).
ALARMS_TOPIC = "cloudwatch:alarms"
