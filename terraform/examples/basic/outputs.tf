output "load_balancer_ip" {
  description = "Create a DNS A record for the collector domain pointing at this address."
  value       = module.tagpipe.load_balancer_ip
}

output "collector_url" {
  description = "The first-party collector endpoint."
  value       = module.tagpipe.collector_url
}

output "image_repository" {
  description = "Where to push the app and dbt images."
  value       = module.tagpipe.image_repository
}

output "certificate_name" {
  description = "Managed certificate; wait for ACTIVE after DNS is in place."
  value       = module.tagpipe.certificate_name
}

output "jobs" {
  description = "Cloud Run jobs (models, batch sync)."
  value       = module.tagpipe.jobs
}

output "raw_tables" {
  description = "Tables the events land in."
  value       = module.tagpipe.raw_tables
}

output "destination_secret_ids" {
  description = "Secrets to add destination credential versions to."
  value       = module.tagpipe.destination_secret_ids
}

output "service_accounts" {
  description = "Service account emails per workload (e.g. to admit the sync accounts to a Google Ads account)."
  value       = module.tagpipe.service_accounts
}
