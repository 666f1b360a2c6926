# Identities: one service account per workload, each holding only the roles its code uses, bound on the
# narrowest resource that works (topic, dataset, secret, job) rather than the project. The only
# project-level grant is roles/bigquery.jobUser, which has no narrower scope (queries run as project jobs).

locals {
  workloads = {
    collector   = "tagpipe collector: publishes events"
    models      = "tagpipe dbt models job"
    batch-sync  = "tagpipe batch sync job"
    stream-sync = "tagpipe streaming sync service"
    push        = "tagpipe Pub/Sub push identity (invokes stream-sync)"
    scheduler   = "tagpipe Cloud Scheduler identity (runs the jobs)"
  }
}

resource "google_service_account" "workload" {
  for_each = local.workloads

  project      = var.project_id
  account_id   = "${local.prefix}-${each.key}"
  display_name = each.value

  depends_on = [google_project_service.apis]
}

# --- Collector: publish to its two topics, nothing else ---------------------------------------------------------

resource "google_pubsub_topic_iam_member" "collector_publish" {
  for_each = {
    events  = google_pubsub_topic.events.name
    invalid = google_pubsub_topic.invalid.name
  }

  project = var.project_id
  topic   = each.value
  role    = "roles/pubsub.publisher"
  member  = google_service_account.workload["collector"].member
}

# --- Models (dbt): read raw, write marts and the model datasets, run query jobs ----------------------------------

resource "google_bigquery_dataset_iam_member" "models_read_raw" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.raw.dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = google_service_account.workload["models"].member
}

resource "google_bigquery_dataset_iam_member" "models_write" {
  for_each = merge(
    { marts = google_bigquery_dataset.marts.dataset_id },
    { for s, d in google_bigquery_dataset.model : s => d.dataset_id },
  )

  project    = var.project_id
  dataset_id = each.value
  role       = "roles/bigquery.dataEditor"
  member     = google_service_account.workload["models"].member
}

# --- Batch sync: read marts, keep state in _tagpipe -----------------------------------------------------------

resource "google_bigquery_dataset_iam_member" "batch_sync_read_marts" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.marts.dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = google_service_account.workload["batch-sync"].member
}

# Some marts are views over the intermediate tables (marts.events). A standard view needs its reader to read the
# tables beneath it too; authorising the marts dataset's views on the model datasets lets the syncs read every
# mart with dataViewer on marts alone.
resource "google_bigquery_dataset_access" "marts_views" {
  for_each = google_bigquery_dataset.model

  project    = var.project_id
  dataset_id = each.value.dataset_id

  dataset {
    dataset {
      project_id = var.project_id
      dataset_id = google_bigquery_dataset.marts.dataset_id
    }
    target_types = ["VIEWS"]
  }
}

# --- Both syncs write snapshots, runs and the delivery ledger ---------------------------------------------------

resource "google_bigquery_dataset_iam_member" "sync_state" {
  for_each = toset(["batch-sync", "stream-sync"])

  project    = var.project_id
  dataset_id = google_bigquery_dataset.state.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = google_service_account.workload[each.key].member
}

# Query jobs are project-scoped. The streaming sync needs it too: its idempotency check and ledger writes are
# queries against _tagpipe.
resource "google_project_iam_member" "bigquery_job_user" {
  for_each = toset(["models", "batch-sync", "stream-sync"])

  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = google_service_account.workload[each.key].member
}

# --- Streaming sync: only the push identity may invoke it ------------------------------------------------------

resource "google_cloud_run_v2_service_iam_member" "push_invokes_stream_sync" {
  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_service.stream_sync.name
  role     = "roles/run.invoker"
  member   = google_service_account.workload["push"].member
}

# --- Scheduler: may start the two jobs, nothing else -----------------------------------------------------------

resource "google_cloud_run_v2_job_iam_member" "scheduler_runs_job" {
  for_each = {
    models     = google_cloud_run_v2_job.models.name
    batch-sync = google_cloud_run_v2_job.batch_sync.name
  }

  project  = var.project_id
  location = var.region
  name     = each.value
  role     = "roles/run.invoker"
  member   = google_service_account.workload["scheduler"].member
}

# --- Pub/Sub service agent ------------------------------------------------------------------------------------

# BigQuery subscriptions write as the service agent: edit rights on the two raw tables only.
resource "google_bigquery_table_iam_member" "pubsub_writes_raw" {
  for_each = { for name, table in google_bigquery_table.raw : name => table.table_id }

  project    = var.project_id
  dataset_id = google_bigquery_dataset.raw.dataset_id
  table_id   = each.value
  role       = "roles/bigquery.dataEditor"
  member     = local.pubsub_service_agent
}

moved {
  from = google_bigquery_table_iam_member.pubsub_writes_raw["invalid"]
  to   = google_bigquery_table_iam_member.pubsub_writes_raw["events_invalid"]
}

# The service agent mints the OIDC token of the push identity for each push request.
resource "google_service_account_iam_member" "pubsub_mints_push_token" {
  service_account_id = google_service_account.workload["push"].name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_service_agent
}

# Dead-lettering: the service agent publishes to each dead-letter topic and must be a subscriber of the source
# subscription to acknowledge the forwarded message there.
resource "google_pubsub_topic_iam_member" "pubsub_dead_letter_publish" {
  for_each = google_pubsub_topic.dead_letter

  project = var.project_id
  topic   = each.value.name
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "pubsub_dead_letter_subscribe" {
  for_each = local.watched_subscriptions

  project      = var.project_id
  subscription = each.value
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}
