# Pub/Sub: the two topics the collector publishes to, the BigQuery subscriptions that land every message in
# raw.events / raw.events_invalid (contract 3), the filtered push subscription feeding the streaming sync, and
# a dead-letter topic (with a pull subscription that keeps what lands there) behind each subscription.

locals {
  subscription_names = {
    events-bq     = "${var.topic_events}-bigquery"
    invalid-bq    = "${var.topic_invalid}-bigquery"
    events-stream = "${var.topic_events}-stream-sync"
  }
}

resource "google_pubsub_topic" "events" {
  project                    = var.project_id
  name                       = var.topic_events
  labels                     = local.labels
  message_retention_duration = var.topic_message_retention_duration

  depends_on = [google_project_service.apis]
}

resource "google_pubsub_topic" "invalid" {
  project                    = var.project_id
  name                       = var.topic_invalid
  labels                     = local.labels
  message_retention_duration = var.topic_message_retention_duration

  depends_on = [google_project_service.apis]
}

resource "google_pubsub_topic" "dead_letter" {
  for_each = local.subscription_names

  project                    = var.project_id
  name                       = "${each.value}-dead-letter"
  labels                     = local.labels
  message_retention_duration = var.topic_message_retention_duration

  depends_on = [google_project_service.apis]
}

# A topic without subscriptions discards what is published to it; these keep dead-lettered messages for
# inspection and replay, and their backlog is alerted on (monitoring.tf).
resource "google_pubsub_subscription" "dead_letter" {
  for_each = local.subscription_names

  project                    = var.project_id
  name                       = "${each.value}-dead-letter"
  topic                      = google_pubsub_topic.dead_letter[each.key].id
  labels                     = local.labels
  ack_deadline_seconds       = 60
  message_retention_duration = var.message_retention_duration
  retain_acked_messages      = false

  expiration_policy {
    ttl = "" # never expire, however long it stays idle
  }
}

# One BigQuery subscription per topic, each landing in its own raw table (subscription key → topic and table).
resource "google_pubsub_subscription" "bigquery" {
  for_each = {
    events-bq  = { topic = google_pubsub_topic.events.id, table = "events" }
    invalid-bq = { topic = google_pubsub_topic.invalid.id, table = "events_invalid" }
  }

  project                    = var.project_id
  name                       = local.subscription_names[each.key]
  topic                      = each.value.topic
  labels                     = local.labels
  message_retention_duration = var.message_retention_duration

  bigquery_config {
    table = "${var.project_id}.${google_bigquery_dataset.raw.dataset_id}.${google_bigquery_table.raw[each.value.table].table_id}"
    # The table has the fixed raw contract columns; data stays one JSON value so schema changes in the event
    # need no table migration.
    use_topic_schema    = false
    use_table_schema    = false
    write_metadata      = true
    drop_unknown_fields = false
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter[each.key].id
    max_delivery_attempts = var.bigquery_max_delivery_attempts
  }

  expiration_policy {
    ttl = "" # never expire, however long it stays idle
  }

  depends_on = [google_bigquery_table_iam_member.pubsub_writes_raw]
}

moved {
  from = google_pubsub_subscription.events_bigquery
  to   = google_pubsub_subscription.bigquery["events-bq"]
}

moved {
  from = google_pubsub_subscription.invalid_bigquery
  to   = google_pubsub_subscription.bigquery["invalid-bq"]
}

resource "google_pubsub_subscription" "events_stream" {
  project                    = var.project_id
  name                       = local.subscription_names["events-stream"]
  topic                      = google_pubsub_topic.events.id
  labels                     = local.labels
  message_retention_duration = var.message_retention_duration
  # The filter reads only attributes (contract 2), so Pub/Sub selects without parsing data. It cannot be
  # changed on an existing subscription: changing it replaces the subscription.
  filter               = var.stream_filter
  ack_deadline_seconds = 60

  push_config {
    push_endpoint = google_cloud_run_v2_service.stream_sync.uri

    oidc_token {
      service_account_email = google_service_account.workload["push"].email
      audience              = google_cloud_run_v2_service.stream_sync.uri
    }
  }

  # The streaming sync answers non-2xx on retryable failures; Pub/Sub backs off between redeliveries and
  # dead-letters after max_delivery_attempts.
  retry_policy {
    minimum_backoff = var.stream_retry_minimum_backoff
    maximum_backoff = var.stream_retry_maximum_backoff
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter["events-stream"].id
    max_delivery_attempts = var.stream_max_delivery_attempts
  }

  expiration_policy {
    ttl = ""
  }

  depends_on = [
    google_cloud_run_v2_service_iam_member.push_invokes_stream_sync,
    google_service_account_iam_member.pubsub_mints_push_token,
  ]
}
