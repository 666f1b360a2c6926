# Monitoring: alerts for every way events or deliveries can stall or be lost (collector 5xx, failed publishes,
# a rising share of invalid events, subscriptions falling behind, dead-lettered messages, failed job runs), the
# notification channel they go to, and a dashboard of the same signals.

locals {
  notification_channels = concat(
    var.notification_channels,
    [for c in google_monitoring_notification_channel.email : c.id],
  )

  collector_name = google_cloud_run_v2_service.collector.name
  collector_requests = join(" AND ", [
    "resource.type = \"cloud_run_revision\"",
    "resource.labels.service_name = \"${local.collector_name}\"",
    "metric.type = \"run.googleapis.com/request_count\"",
  ])
  topic_publishes = "resource.type = \"pubsub_topic\" AND metric.type = \"pubsub.googleapis.com/topic/send_message_operation_count\""

  watched_subscriptions = merge(
    { for key, sub in google_pubsub_subscription.bigquery : key => sub.name },
    { events-stream = google_pubsub_subscription.events_stream.name },
  )
  watched_jobs = {
    models     = google_cloud_run_v2_job.models.name
    batch-sync = google_cloud_run_v2_job.batch_sync.name
  }
}

resource "google_monitoring_notification_channel" "email" {
  count = var.alert_email == null ? 0 : 1

  project      = var.project_id
  display_name = "tagpipe alerts"
  type         = "email"
  labels = {
    email_address = var.alert_email
  }

  depends_on = [google_project_service.apis]
}

# One log entry per collected hit adds up (see docs/deploy.md, costs); the app's own warnings and errors stay.
resource "google_logging_project_exclusion" "collector_requests" {
  count = var.exclude_collector_request_logs ? 1 : 0

  project     = var.project_id
  name        = "${local.prefix}-collector-request-logs"
  description = "Per-request logs of the tagpipe collector (metrics keep the request counts)."
  filter = join(" AND ", [
    "resource.type=\"cloud_run_revision\"",
    "resource.labels.service_name=\"${local.collector_name}\"",
    "log_id(\"run.googleapis.com/requests\")",
  ])
}

resource "google_logging_metric" "publish_errors" {
  project     = var.project_id
  name        = "${local.prefix}-collector-publish-errors"
  description = "Collector log entries reporting a failed Pub/Sub publish (events then wait in the spool or get 503)."
  filter = join(" AND ", [
    "resource.type=\"cloud_run_revision\"",
    "resource.labels.service_name=\"${local.collector_name}\"",
    "(${var.publish_error_log_filter})",
  ])

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
  }

  depends_on = [google_project_service.apis]
}

resource "google_monitoring_alert_policy" "collector_5xx" {
  project               = var.project_id
  display_name          = "tagpipe: collector 5xx rate"
  combiner              = "OR"
  notification_channels = local.notification_channels
  user_labels           = local.labels

  documentation {
    mime_type = "text/markdown"
    content   = "More than ${var.alert_collector_5xx_ratio * 100}% of collector responses are 5xx. Clients retry, but check the collector logs: a 503 with Retry-After means Pub/Sub is unreachable and the spool is full."
  }

  conditions {
    display_name = "5xx / all requests"

    condition_threshold {
      filter             = "${local.collector_requests} AND metric.labels.response_code_class = \"5xx\""
      denominator_filter = local.collector_requests
      comparison         = "COMPARISON_GT"
      threshold_value    = var.alert_collector_5xx_ratio
      duration           = "300s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
      }

      denominator_aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  alert_strategy {
    auto_close = "1800s"
  }
}

resource "google_monitoring_alert_policy" "publish_errors" {
  project               = var.project_id
  display_name          = "tagpipe: collector publish errors"
  combiner              = "OR"
  notification_channels = local.notification_channels
  user_labels           = local.labels

  documentation {
    mime_type = "text/markdown"
    content   = "The collector could not publish to Pub/Sub. Events are held in the instance's spool and replayed; once it is full the collector answers 503."
  }

  conditions {
    display_name = "failed publishes"

    condition_threshold {
      filter          = "resource.type = \"cloud_run_revision\" AND metric.type = \"logging.googleapis.com/user/${google_logging_metric.publish_errors.name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  alert_strategy {
    auto_close = "1800s"
  }
}

resource "google_monitoring_alert_policy" "invalid_ratio" {
  project               = var.project_id
  display_name          = "tagpipe: invalid event rate"
  combiner              = "OR"
  notification_channels = local.notification_channels
  user_labels           = local.labels

  documentation {
    mime_type = "text/markdown"
    content   = "Messages published to ${var.topic_invalid} exceed ${var.alert_invalid_ratio * 100}% of those published to ${var.topic_events}. A site change is probably sending malformed events: query ${var.dataset_raw}.events_invalid for the reasons."
  }

  conditions {
    display_name = "invalid / valid publishes"

    condition_threshold {
      filter             = "${local.topic_publishes} AND resource.labels.topic_id = \"${google_pubsub_topic.invalid.name}\""
      denominator_filter = "${local.topic_publishes} AND resource.labels.topic_id = \"${google_pubsub_topic.events.name}\""
      comparison         = "COMPARISON_GT"
      threshold_value    = var.alert_invalid_ratio
      duration           = "900s"

      aggregations {
        alignment_period     = "900s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
      }

      denominator_aggregations {
        alignment_period     = "900s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  alert_strategy {
    auto_close = "3600s"
  }
}

resource "google_monitoring_alert_policy" "oldest_unacked" {
  for_each = local.watched_subscriptions

  project               = var.project_id
  display_name          = "tagpipe: ${each.value} falling behind"
  combiner              = "OR"
  notification_channels = local.notification_channels
  user_labels           = local.labels

  documentation {
    mime_type = "text/markdown"
    content   = "The oldest unacknowledged message on ${each.value} is older than ${var.alert_oldest_unacked_seconds}s. For a BigQuery subscription check its state (table permissions, schema); for the streaming sync check its logs. Messages are kept for ${var.message_retention_duration}."
  }

  conditions {
    display_name = "oldest unacked message age"

    condition_threshold {
      filter          = "resource.type = \"pubsub_subscription\" AND resource.labels.subscription_id = \"${each.value}\" AND metric.type = \"pubsub.googleapis.com/subscription/oldest_unacked_message_age\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.alert_oldest_unacked_seconds
      duration        = "300s"

      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }

  alert_strategy {
    auto_close = "1800s"
  }
}

resource "google_monitoring_alert_policy" "dead_letter_backlog" {
  project               = var.project_id
  display_name          = "tagpipe: dead-lettered messages"
  combiner              = "OR"
  notification_channels = local.notification_channels
  user_labels           = local.labels

  documentation {
    mime_type = "text/markdown"
    content   = "Messages gave up delivery and wait in a *-dead-letter subscription. Inspect them with `gcloud pubsub subscriptions pull SUBSCRIPTION --limit 10`, fix the cause, then republish them to the original topic."
  }

  dynamic "conditions" {
    for_each = google_pubsub_subscription.dead_letter
    content {
      display_name = "${conditions.value.name} backlog"

      condition_threshold {
        filter          = "resource.type = \"pubsub_subscription\" AND resource.labels.subscription_id = \"${conditions.value.name}\" AND metric.type = \"pubsub.googleapis.com/subscription/num_undelivered_messages\""
        comparison      = "COMPARISON_GT"
        threshold_value = 0
        duration        = "60s"

        aggregations {
          alignment_period   = "60s"
          per_series_aligner = "ALIGN_MAX"
        }
      }
    }
  }

  alert_strategy {
    auto_close = "3600s"
  }
}

resource "google_monitoring_alert_policy" "job_failures" {
  for_each = local.watched_jobs

  project               = var.project_id
  display_name          = "tagpipe: ${each.value} execution failed"
  combiner              = "OR"
  notification_channels = local.notification_channels
  user_labels           = local.labels

  documentation {
    mime_type = "text/markdown"
    content   = "An execution of the Cloud Run job ${each.value} failed. `gcloud run jobs executions list --job ${each.value} --region ${var.region}` lists them; the logs say which model or sync failed and why. Sync runs resume from the ledger on the next schedule."
  }

  conditions {
    display_name = "failed executions"

    condition_threshold {
      filter          = "resource.type = \"cloud_run_job\" AND resource.labels.job_name = \"${each.value}\" AND metric.type = \"run.googleapis.com/job/completed_execution_count\" AND metric.labels.result = \"failed\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        alignment_period     = "600s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  alert_strategy {
    auto_close = "3600s"
  }
}

# --- Dashboard --------------------------------------------------------------------------------------------------

locals {
  dashboard_charts = [
    {
      title  = "Collector requests by response class (/s)"
      filter = local.collector_requests
      align  = "ALIGN_RATE"
      reduce = "REDUCE_SUM"
      group  = ["metric.label.response_code_class"]
    },
    {
      title  = "Collector latency p95 (ms)"
      filter = "resource.type = \"cloud_run_revision\" AND resource.labels.service_name = \"${local.collector_name}\" AND metric.type = \"run.googleapis.com/request_latencies\""
      align  = "ALIGN_PERCENTILE_95"
      reduce = "REDUCE_MAX"
      group  = []
    },
    {
      title  = "Messages published per topic (/s)"
      filter = "${local.topic_publishes} AND (resource.labels.topic_id = \"${google_pubsub_topic.events.name}\" OR resource.labels.topic_id = \"${google_pubsub_topic.invalid.name}\")"
      align  = "ALIGN_RATE"
      reduce = "REDUCE_SUM"
      group  = ["resource.label.topic_id"]
    },
    {
      title  = "Oldest unacked message age per subscription (s)"
      filter = "resource.type = \"pubsub_subscription\" AND metric.type = \"pubsub.googleapis.com/subscription/oldest_unacked_message_age\""
      align  = "ALIGN_MAX"
      reduce = "REDUCE_MAX"
      group  = ["resource.label.subscription_id"]
    },
    {
      title  = "Undelivered messages per subscription (incl. dead letters)"
      filter = "resource.type = \"pubsub_subscription\" AND metric.type = \"pubsub.googleapis.com/subscription/num_undelivered_messages\""
      align  = "ALIGN_MAX"
      reduce = "REDUCE_MAX"
      group  = ["resource.label.subscription_id"]
    },
    {
      title  = "Job executions by result"
      filter = "resource.type = \"cloud_run_job\" AND metric.type = \"run.googleapis.com/job/completed_execution_count\""
      align  = "ALIGN_SUM"
      reduce = "REDUCE_SUM"
      group  = ["resource.label.job_name", "metric.label.result"]
    },
    {
      title  = "Streaming sync responses by class (/s)"
      filter = "resource.type = \"cloud_run_revision\" AND resource.labels.service_name = \"${google_cloud_run_v2_service.stream_sync.name}\" AND metric.type = \"run.googleapis.com/request_count\""
      align  = "ALIGN_RATE"
      reduce = "REDUCE_SUM"
      group  = ["metric.label.response_code_class"]
    },
    {
      title  = "Collector publish errors"
      filter = "resource.type = \"cloud_run_revision\" AND metric.type = \"logging.googleapis.com/user/${google_logging_metric.publish_errors.name}\""
      align  = "ALIGN_SUM"
      reduce = "REDUCE_SUM"
      group  = []
    },
  ]
}

resource "google_monitoring_dashboard" "tagpipe" {
  project = var.project_id
  dashboard_json = jsonencode({
    displayName = "tagpipe"
    mosaicLayout = {
      columns = 12
      tiles = [
        for i, chart in local.dashboard_charts : {
          xPos   = (i % 2) * 6
          yPos   = floor(i / 2) * 4
          width  = 6
          height = 4
          widget = {
            title = chart.title
            xyChart = {
              dataSets = [{
                plotType = "LINE"
                timeSeriesQuery = {
                  timeSeriesFilter = {
                    filter = chart.filter
                    aggregation = {
                      alignmentPeriod    = "60s"
                      perSeriesAligner   = chart.align
                      crossSeriesReducer = chart.reduce
                      groupByFields      = chart.group
                    }
                  }
                }
              }]
            }
          }
        }
      ]
    }
  })

  depends_on = [google_project_service.apis]
}
