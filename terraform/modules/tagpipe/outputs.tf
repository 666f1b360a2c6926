output "load_balancer_ip" {
  description = "IPv4 address of the load balancer: create a DNS A record for var.domain pointing here."
  value       = google_compute_global_address.collector.address
}

output "collector_url" {
  description = "The first-party collector endpoint (serves once DNS points at load_balancer_ip and the certificate is ACTIVE)."
  value       = "https://${var.domain}"
}

output "collector_service" {
  description = "Cloud Run service name of the collector."
  value       = google_cloud_run_v2_service.collector.name
}

output "stream_sync_url" {
  description = "Cloud Run URL of the streaming sync (push target; not publicly invokable)."
  value       = google_cloud_run_v2_service.stream_sync.uri
}

output "certificate_name" {
  description = "Managed certificate to watch until its status is ACTIVE."
  value       = google_compute_managed_ssl_certificate.collector.name
}

output "image_repository" {
  description = "Artifact Registry path to push images to, e.g. <this>/tagpipe:TAG and <this>/tagpipe-dbt:TAG."
  value       = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"
}

output "topics" {
  description = "Pub/Sub topic names: events, invalid, and the dead-letter topic of each subscription."
  value = {
    events      = google_pubsub_topic.events.name
    invalid     = google_pubsub_topic.invalid.name
    dead_letter = { for k, t in google_pubsub_topic.dead_letter : k => t.name }
  }
}

output "raw_tables" {
  description = "Fully qualified raw tables the BigQuery subscriptions write."
  value       = { for name, table in google_bigquery_table.raw : name => "${var.project_id}.${table.dataset_id}.${table.table_id}" }
}

output "datasets" {
  description = "BigQuery dataset ids."
  value = {
    raw    = google_bigquery_dataset.raw.dataset_id
    marts  = google_bigquery_dataset.marts.dataset_id
    state  = google_bigquery_dataset.state.dataset_id
    models = [for d in google_bigquery_dataset.model : d.dataset_id]
  }
}

output "jobs" {
  description = "Cloud Run job names (run one now with `gcloud run jobs execute NAME --region REGION --wait`)."
  value = {
    models     = google_cloud_run_v2_job.models.name
    batch_sync = google_cloud_run_v2_job.batch_sync.name
  }
}

output "service_accounts" {
  description = "Service account e-mail per workload."
  value       = { for k, sa in google_service_account.workload : k => sa.email }
}

output "destination_secret_ids" {
  description = "Secret ids of the destination credentials, keyed by env name: add versions with `gcloud secrets versions add ID --data-file=-`."
  value       = { for k, s in google_secret_manager_secret.destination : k => s.secret_id }
}
