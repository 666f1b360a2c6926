# tagpipe on GCP: the shared pieces (names, APIs, the image repository). Each concern has its own file:
# iam.tf (identities), pubsub.tf, bigquery.tf, secrets.tf, collector.tf, lb.tf, jobs.tf, stream_sync.tf,
# monitoring.tf.

data "google_project" "this" {
  project_id = var.project_id
}

locals {
  prefix = var.name_prefix
  labels = merge({ app = "tagpipe", managed-by = "terraform" }, var.labels)

  # Pub/Sub's service agent writes BigQuery subscriptions, signs push OIDC tokens and moves messages to
  # dead-letter topics; it exists once the Pub/Sub API is enabled.
  pubsub_service_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"

  # Headers the load balancer adds (lb.tf) and the collector reads for geo enrichment.
  geo_headers = {
    country = "X-Client-Geo-Country"
    region  = "X-Client-Geo-Region"
    city    = "X-Client-Geo-City"
  }

  # Where the sync workloads find tagpipe.yaml (a Secret Manager secret mounted as a file).
  config_dir  = "/etc/tagpipe"
  config_file = "tagpipe.yaml"
  config_path = "${local.config_dir}/${local.config_file}"

  # Entrypoint of the one app image (Dockerfile, working directory /app); each workload passes its subcommand
  # as args.
  cli = ["node", "dist/src/cli/main.js"]

  apis = toset([
    "artifactregistry.googleapis.com",
    "bigquery.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudscheduler.googleapis.com",
    "compute.googleapis.com",
    # The google-ads destination (Data Manager API), called by the sync workloads as their service accounts.
    "datamanager.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
  ])
}

resource "google_project_service" "apis" {
  for_each = var.enable_apis ? local.apis : toset([])

  project = var.project_id
  service = each.value
  # Other workloads in the project may rely on these APIs; destroying tagpipe must not switch them off.
  disable_on_destroy = false
}

resource "google_artifact_registry_repository" "images" {
  project       = var.project_id
  location      = var.region
  repository_id = local.prefix
  format        = "DOCKER"
  description   = "tagpipe container images (app and dbt)"
  labels        = local.labels

  depends_on = [google_project_service.apis]
}
