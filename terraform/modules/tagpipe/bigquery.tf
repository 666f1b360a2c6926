# BigQuery: the raw dataset and its two landing tables (contract 3: exactly the columns a BigQuery subscription
# with write_metadata writes), the marts dataset the models build, the datasets for dbt's intermediate layers,
# and the sync state dataset.

locals {
  # Contract 3. data and attributes are JSON so the models read fields with JSON functions; the same columns
  # exist in the local raw tables, so one set of dbt sources serves both modes.
  raw_schema = [
    { name = "subscription_name", type = "STRING", mode = "NULLABLE", description = "Full name of the Pub/Sub subscription that wrote the row." },
    { name = "message_id", type = "STRING", mode = "NULLABLE", description = "Pub/Sub message id (redeliveries repeat it)." },
    { name = "publish_time", type = "TIMESTAMP", mode = "NULLABLE", description = "When Pub/Sub accepted the message; the partitioning column." },
    { name = "data", type = "JSON", mode = "NULLABLE", description = "The canonical event (or the invalid record with its reason)." },
    { name = "attributes", type = "JSON", mode = "NULLABLE", description = "Message attributes: event_id, type, event, source_id, consent_ads, consent_analytics, schema_version." },
  ]
  raw_partition_expiration_ms = var.raw_partition_expiration_days == null ? null : var.raw_partition_expiration_days * 86400000
}

resource "google_bigquery_dataset" "raw" {
  project     = var.project_id
  dataset_id  = var.dataset_raw
  location    = var.bigquery_location
  description = "tagpipe raw events as Pub/Sub delivered them (nothing dropped: invalid events land in events_invalid)."
  labels      = local.labels
  # Without deletion protection, terraform destroy also removes the tables dbt and the syncs created.
  delete_contents_on_destroy = !var.deletion_protection

  depends_on = [google_project_service.apis]
}

# The two landing tables share the contract schema; each topic's BigQuery subscription writes its own.
resource "google_bigquery_table" "raw" {
  for_each = {
    events         = "Valid canonical events written by the ${var.topic_events} BigQuery subscription."
    events_invalid = "Events that failed validation, with the reason, written by the ${var.topic_invalid} BigQuery subscription."
  }

  project             = var.project_id
  dataset_id          = google_bigquery_dataset.raw.dataset_id
  table_id            = each.key
  description         = each.value
  labels              = local.labels
  deletion_protection = var.deletion_protection
  schema              = jsonencode(local.raw_schema)
  clustering          = length(var.raw_clustering_fields) > 0 ? var.raw_clustering_fields : null

  time_partitioning {
    type          = "DAY"
    field         = "publish_time"
    expiration_ms = local.raw_partition_expiration_ms
  }
}

# Addresses before the two tables became one resource: existing deployments keep their tables.
moved {
  from = google_bigquery_table.events
  to   = google_bigquery_table.raw["events"]
}

moved {
  from = google_bigquery_table.events_invalid
  to   = google_bigquery_table.raw["events_invalid"]
}

resource "google_bigquery_dataset" "marts" {
  project     = var.project_id
  dataset_id  = var.dataset_marts
  location    = var.bigquery_location
  description = "tagpipe marts built by dbt; the only tables syncs read."
  labels      = local.labels
  # Without deletion protection, terraform destroy also removes the tables dbt and the syncs created.
  delete_contents_on_destroy = !var.deletion_protection

  depends_on = [google_project_service.apis]
}

resource "google_bigquery_dataset" "model" {
  for_each = toset(var.model_dataset_suffixes)

  project     = var.project_id
  dataset_id  = "${var.dataset_marts}${each.value}"
  location    = var.bigquery_location
  description = "tagpipe dbt models (${trimprefix(each.value, "_")} layer)."
  labels      = local.labels
  # Without deletion protection, terraform destroy also removes the tables dbt and the syncs created.
  delete_contents_on_destroy = !var.deletion_protection

  depends_on = [google_project_service.apis]
}

resource "google_bigquery_dataset" "state" {
  project     = var.project_id
  dataset_id  = var.dataset_state
  location    = var.bigquery_location
  description = "tagpipe sync state: snapshots for diffs, sync runs and the delivery ledger."
  labels      = local.labels
  # Without deletion protection, terraform destroy also removes the tables dbt and the syncs created.
  delete_contents_on_destroy = !var.deletion_protection

  depends_on = [google_project_service.apis]
}
