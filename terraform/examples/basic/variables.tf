variable "project_id" {
  description = "GCP project id to deploy into."
  type        = string
}

variable "region" {
  description = "Region for Cloud Run, Artifact Registry and Cloud Scheduler."
  type        = string
  default     = "europe-west1"
}

variable "domain" {
  description = "First-party collector subdomain, e.g. collect.example.com."
  type        = string
}

variable "cookie_domain" {
  description = "Registrable domain shared by the site and the collector, e.g. example.com."
  type        = string
  default     = null
}

variable "site_origins" {
  description = "Origins of the site that sends events, e.g. [\"https://www.example.com\"]."
  type        = list(string)
}

variable "image_tag" {
  description = "Tag of the app and dbt images pushed to the module's Artifact Registry repository (docs/deploy.md)."
  type        = string
  default     = "0.1.0"
}

variable "app_image" {
  description = "Full app image reference; null = <region>-docker.pkg.dev/<project>/tagpipe/tagpipe:<image_tag>."
  type        = string
  default     = null
}

variable "dbt_image" {
  description = "Full dbt image reference; null = <region>-docker.pkg.dev/<project>/tagpipe/tagpipe-dbt:<image_tag>."
  type        = string
  default     = null
}

variable "write_keys" {
  description = "Segment write keys the collector accepts (generate one: openssl rand -hex 16)."
  type        = list(string)
  sensitive   = true
}

variable "ga4_measurement_ids" {
  description = "GA4 measurement ids accepted on /g/collect; empty = any."
  type        = list(string)
  default     = []
}

variable "alert_email" {
  description = "E-mail address that receives alerts; null = none."
  type        = string
  default     = null
}

variable "destination_secrets" {
  description = "Destination credential env name => Secret Manager secret id, e.g. { META_ACCESS_TOKEN = \"tagpipe-meta-access-token\" }."
  type        = map(string)
  default     = {}
}

variable "deletion_protection" {
  description = "Protect services, jobs and raw tables from terraform destroy (set false for a throwaway trial)."
  type        = bool
  default     = true
}

variable "models_schedule" {
  description = "Cron schedule of the dbt models job; run less often at high volume (docs/deploy.md, costs)."
  type        = string
  default     = "0 * * * *"
}

variable "collector_min_instances" {
  description = "Warm collector instances (0 saves ~$10/month at the price of cold starts)."
  type        = number
  default     = 1
}

variable "exclude_collector_request_logs" {
  description = "Drop the collector's per-request logs (the largest logging cost at high volume)."
  type        = bool
  default     = false
}

variable "enable_cloud_armor" {
  description = "Throttle each client IP with Cloud Armor on the load balancer."
  type        = bool
  default     = false
}
