# Inputs of the tagpipe module. Defaults match the application's own defaults (src/core/config.ts), so a
# deployment that changes nothing here needs no extra settings in tagpipe.yaml.

# --- Project and naming ---------------------------------------------------------------------------------------

variable "project_id" {
  description = "GCP project id that receives every resource."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a GCP project id: 6-30 characters, lower-case letters, digits and hyphens."
  }
}

variable "region" {
  description = "Region for Cloud Run, Artifact Registry, Cloud Scheduler and the serverless NEG, e.g. europe-west1."
  type        = string

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must be a GCP region such as us-central1 or europe-west1."
  }
}

variable "name_prefix" {
  description = "Prefix for resource names and service account ids (kept short: service account ids are limited to 30 characters)."
  type        = string
  default     = "tagpipe"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,13}$", var.name_prefix))
    error_message = "name_prefix must be 2-14 characters: lower-case letters, digits and hyphens, starting with a letter."
  }
}

variable "labels" {
  description = "Labels added to every resource that supports them."
  type        = map(string)
  default     = {}
}

variable "enable_apis" {
  description = "Enable the required Google APIs in the project (turn off when a platform team manages them)."
  type        = bool
  default     = true
}

variable "deletion_protection" {
  description = "Protect the Cloud Run services/jobs and the raw BigQuery tables from terraform destroy."
  type        = bool
  default     = true
}

# --- Images ---------------------------------------------------------------------------------------------------

variable "app_image" {
  description = "Container image built from the repository's Dockerfile (collector, batch sync and streaming sync), e.g. europe-west1-docker.pkg.dev/my-project/tagpipe/tagpipe:0.1.0."
  type        = string

  validation {
    condition     = length(trimspace(var.app_image)) > 0 && !can(regex("\\s", var.app_image))
    error_message = "app_image must be a container image reference without spaces."
  }
}

variable "dbt_image" {
  description = "Container image built from Dockerfile.dbt (the dbt models job)."
  type        = string

  validation {
    condition     = length(trimspace(var.dbt_image)) > 0 && !can(regex("\\s", var.dbt_image))
    error_message = "dbt_image must be a container image reference without spaces."
  }
}

# --- Collector ------------------------------------------------------------------------------------------------

variable "domain" {
  description = "First-party subdomain that serves the collector through the load balancer, e.g. collect.example.com. Point its DNS A record at the output load_balancer_ip."
  type        = string

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.domain))
    error_message = "domain must be a lower-case host name such as collect.example.com (no scheme, no path)."
  }
}

variable "cookie_domain" {
  description = "Registrable domain for the first-party id cookie, e.g. example.com, so the site and the collector subdomain share it. null = host-only cookie on the collector subdomain."
  type        = string
  default     = null

  validation {
    condition     = var.cookie_domain == null || can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.cookie_domain))
    error_message = "cookie_domain must be a lower-case domain such as example.com."
  }
}

variable "cors_origins" {
  description = "Browser origins allowed to send events with credentials, e.g. [\"https://www.example.com\"]. \"*\" is refused by the collector in gcp mode."
  type        = list(string)

  validation {
    condition     = length(var.cors_origins) > 0 && alltrue([for o in var.cors_origins : can(regex("^https?://[^/*]+$", o))])
    error_message = "cors_origins must list at least one origin like https://www.example.com (scheme and host, no path, no wildcard)."
  }
}

variable "ga4_measurement_ids" {
  description = "GA4 measurement ids accepted on /g/collect (e.g. G-XXXXXXX). Empty = any."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for id in var.ga4_measurement_ids : can(regex("^G-[A-Z0-9]+$", id))])
    error_message = "ga4_measurement_ids must look like G-ABC123."
  }
}

variable "write_keys" {
  description = "Segment write keys the collector accepts. Stored in Secret Manager; they ship in browser code, so they identify a source rather than protect it."
  type        = list(string)
  sensitive   = true

  validation {
    condition     = length(var.write_keys) > 0 && alltrue([for k in var.write_keys : length(k) >= 8 && !can(regex("[,\\s]", k))])
    error_message = "write_keys must hold at least one key of 8+ characters without commas or spaces."
  }
}

variable "debug_token" {
  description = "Token that unlocks the collector's /debug view. null = /debug stays closed (the collector's gcp-mode default)."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.debug_token == null || length(coalesce(var.debug_token, "x")) >= 8
    error_message = "debug_token must be at least 8 characters (the collector refuses shorter ones)."
  }
}

variable "collector_min_instances" {
  description = "Minimum collector instances kept warm (1 avoids cold starts on the first hit)."
  type        = number
  default     = 1

  validation {
    condition     = var.collector_min_instances >= 0 && var.collector_min_instances <= 100
    error_message = "collector_min_instances must be between 0 and 100."
  }
}

variable "collector_max_instances" {
  description = "Maximum collector instances (caps cost under a traffic spike; excess requests get 429 from Cloud Run)."
  type        = number
  default     = 20

  validation {
    condition     = var.collector_max_instances >= 1 && var.collector_max_instances <= 1000
    error_message = "collector_max_instances must be between 1 and 1000."
  }
}

variable "collector_concurrency" {
  description = "Concurrent requests per collector instance."
  type        = number
  default     = 80

  validation {
    condition     = var.collector_concurrency >= 1 && var.collector_concurrency <= 1000
    error_message = "collector_concurrency must be between 1 and 1000 (Cloud Run's limit)."
  }
}

variable "collector_cpu" {
  description = "vCPU per collector instance, as Cloud Run accepts it (\"1\", \"2\", \"4\")."
  type        = string
  default     = "1"

  validation {
    condition     = contains(["1", "2", "4", "6", "8"], var.collector_cpu)
    error_message = "collector_cpu must be one of 1, 2, 4, 6, 8."
  }
}

variable "collector_memory" {
  description = "Memory per collector instance, e.g. 512Mi or 1Gi."
  type        = string
  default     = "512Mi"

  validation {
    condition     = can(regex("^[0-9]+(Mi|Gi)$", var.collector_memory))
    error_message = "collector_memory must be a size like 512Mi or 1Gi."
  }
}

variable "enable_cloud_armor" {
  description = "Attach a Cloud Armor policy that throttles each client IP on the load balancer."
  type        = bool
  default     = false
}

variable "rate_limit_per_minute" {
  description = "With Cloud Armor on: requests per minute one client IP may send before it gets 429."
  type        = number
  default     = 1200

  validation {
    condition     = var.rate_limit_per_minute >= 10
    error_message = "rate_limit_per_minute must be at least 10."
  }
}

# --- Pub/Sub --------------------------------------------------------------------------------------------------

variable "topic_events" {
  description = "Topic for valid canonical events (the app's bus.topics.events, default events)."
  type        = string
  default     = "events"

  validation {
    condition     = can(regex("^[a-zA-Z][a-zA-Z0-9_.~+%-]{2,254}$", var.topic_events))
    error_message = "topic_events must be a valid Pub/Sub topic id."
  }
}

variable "topic_invalid" {
  description = "Topic for events that failed validation, with the reason (the app's bus.topics.invalid, default events-invalid)."
  type        = string
  default     = "events-invalid"

  validation {
    condition     = can(regex("^[a-zA-Z][a-zA-Z0-9_.~+%-]{2,254}$", var.topic_invalid))
    error_message = "topic_invalid must be a valid Pub/Sub topic id."
  }
}

variable "message_retention_duration" {
  description = "How long subscriptions keep unacknowledged messages, so a BigQuery or destination outage loses nothing (Pub/Sub's maximum is 7 days; unacknowledged messages are not billed for storage)."
  type        = string
  default     = "604800s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.message_retention_duration)) && tonumber(trimsuffix(var.message_retention_duration, "s")) >= 600 && tonumber(trimsuffix(var.message_retention_duration, "s")) <= 604800
    error_message = "message_retention_duration must be seconds like 604800s, between 600s and 604800s."
  }
}

variable "topic_message_retention_duration" {
  description = "How long the topics keep every published message (acknowledged or not) for replay with seek after a bad deploy. Billed as Pub/Sub storage, so it grows with volume."
  type        = string
  default     = "86400s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.topic_message_retention_duration)) && tonumber(trimsuffix(var.topic_message_retention_duration, "s")) >= 600 && tonumber(trimsuffix(var.topic_message_retention_duration, "s")) <= 2678400
    error_message = "topic_message_retention_duration must be seconds like 86400s, between 600s and 2678400s (31 days)."
  }
}

variable "bigquery_max_delivery_attempts" {
  description = "Attempts to write a message into BigQuery before it goes to the dead-letter topic."
  type        = number
  default     = 5

  validation {
    condition     = var.bigquery_max_delivery_attempts >= 5 && var.bigquery_max_delivery_attempts <= 100
    error_message = "bigquery_max_delivery_attempts must be between 5 and 100 (Pub/Sub's range)."
  }
}

variable "stream_filter" {
  description = "Pub/Sub filter on message attributes selecting the events sent to the streaming sync, e.g. attributes.type = \"track\" AND attributes.consent_ads = \"true\". Attributes: event_id, type, event, source_id, consent_ads, consent_analytics, schema_version."
  type        = string
  default     = "attributes.type = \"track\" AND attributes.consent_ads = \"true\""

  validation {
    condition     = length(var.stream_filter) <= 256
    error_message = "stream_filter must be at most 256 characters (Pub/Sub's limit)."
  }
}

variable "stream_max_delivery_attempts" {
  description = "Push attempts to the streaming sync before a message goes to its dead-letter topic."
  type        = number
  default     = 10

  validation {
    condition     = var.stream_max_delivery_attempts >= 5 && var.stream_max_delivery_attempts <= 100
    error_message = "stream_max_delivery_attempts must be between 5 and 100 (Pub/Sub's range)."
  }
}

variable "stream_retry_minimum_backoff" {
  description = "Shortest wait before Pub/Sub redelivers a message the streaming sync answered non-2xx."
  type        = string
  default     = "10s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.stream_retry_minimum_backoff)) && tonumber(trimsuffix(var.stream_retry_minimum_backoff, "s")) <= 600
    error_message = "stream_retry_minimum_backoff must be seconds like 10s, at most 600s."
  }
}

variable "stream_retry_maximum_backoff" {
  description = "Longest wait between redeliveries to the streaming sync (Pub/Sub caps it at 600s)."
  type        = string
  default     = "600s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.stream_retry_maximum_backoff)) && tonumber(trimsuffix(var.stream_retry_maximum_backoff, "s")) <= 600
    error_message = "stream_retry_maximum_backoff must be seconds like 600s, at most 600s."
  }
}

# --- BigQuery -------------------------------------------------------------------------------------------------

variable "bigquery_location" {
  description = "BigQuery location for every dataset (US, EU or a region); dbt and the syncs run their queries there."
  type        = string
  default     = "US"

  validation {
    condition     = can(regex("^(US|EU|[a-z]+-[a-z]+[0-9]+)$", var.bigquery_location))
    error_message = "bigquery_location must be US, EU or a region such as europe-west1."
  }
}

variable "dataset_raw" {
  description = "Dataset holding raw.events and raw.events_invalid, written by the BigQuery subscriptions (the app's warehouse.rawDataset)."
  type        = string
  default     = "raw"

  validation {
    condition     = can(regex("^[A-Za-z_][A-Za-z0-9_]*$", var.dataset_raw)) && length(var.dataset_raw) <= 1024
    error_message = "dataset_raw must be a BigQuery dataset id (letters, digits, underscores)."
  }
}

variable "dataset_marts" {
  description = "Dataset the dbt models build and the syncs read (the app's warehouse.martsDataset)."
  type        = string
  default     = "marts"

  validation {
    condition     = can(regex("^[A-Za-z_][A-Za-z0-9_]*$", var.dataset_marts)) && length(var.dataset_marts) <= 1024
    error_message = "dataset_marts must be a BigQuery dataset id (letters, digits, underscores)."
  }
}

variable "dataset_state" {
  description = "Dataset for sync state: snapshots, runs and the delivery ledger (the app's warehouse.stateDataset)."
  type        = string
  default     = "_tagpipe"

  validation {
    condition     = can(regex("^[A-Za-z_][A-Za-z0-9_]*$", var.dataset_state)) && length(var.dataset_state) <= 1024
    error_message = "dataset_state must be a BigQuery dataset id (letters, digits, underscores)."
  }
}

variable "model_dataset_suffixes" {
  description = "Extra datasets the dbt project writes next to the marts dataset (dbt names custom schemas <marts>_<schema>); created here so the models job needs no project-wide dataset creation right."
  type        = list(string)
  default     = ["_staging", "_intermediate"]

  validation {
    condition     = alltrue([for s in var.model_dataset_suffixes : can(regex("^_[A-Za-z0-9_]+$", s))])
    error_message = "model_dataset_suffixes must start with an underscore, e.g. _staging."
  }
}

variable "raw_partition_expiration_days" {
  description = "Days a raw partition is kept (raw.events, raw.events_invalid). null = forever. Marts are rebuilt from raw, so expiry here limits how far back a full rebuild reaches."
  type        = number
  default     = null

  validation {
    condition     = var.raw_partition_expiration_days == null || coalesce(var.raw_partition_expiration_days, 1) >= 1
    error_message = "raw_partition_expiration_days must be at least 1 day, or null."
  }
}

variable "raw_clustering_fields" {
  description = "Clustering columns for the raw tables (JSON columns cannot be clustered). publish_time lets the models' incremental reads (a few hours below the high-water mark) skip most of each day partition."
  type        = list(string)
  default     = ["publish_time"]

  validation {
    condition     = length(var.raw_clustering_fields) <= 4 && alltrue([for f in var.raw_clustering_fields : contains(["subscription_name", "message_id", "publish_time"], f)])
    error_message = "raw_clustering_fields may name up to 4 of subscription_name, message_id, publish_time."
  }
}

# --- Jobs and syncs -------------------------------------------------------------------------------------------

variable "models_schedule" {
  description = "Cron schedule (Cloud Scheduler syntax) for the dbt models job."
  type        = string
  default     = "0 * * * *"

  validation {
    condition     = length(split(" ", trimspace(var.models_schedule))) == 5
    error_message = "models_schedule must be a 5-field cron expression such as \"0 * * * *\"."
  }
}

variable "batch_sync_schedule" {
  description = "Cron schedule for the batch sync job; each run sends the syncs whose own cadence is due."
  type        = string
  default     = "*/15 * * * *"

  validation {
    condition     = length(split(" ", trimspace(var.batch_sync_schedule))) == 5
    error_message = "batch_sync_schedule must be a 5-field cron expression such as \"*/15 * * * *\"."
  }
}

variable "schedule_time_zone" {
  description = "Time zone for both schedules (IANA name)."
  type        = string
  default     = "Etc/UTC"
}

variable "models_timeout" {
  description = "Longest a dbt models run may take."
  type        = string
  default     = "3600s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.models_timeout))
    error_message = "models_timeout must be seconds like 3600s."
  }
}

variable "batch_sync_timeout" {
  description = "Longest a batch sync run may take; an interrupted run resumes from the ledger next time."
  type        = string
  default     = "3600s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.batch_sync_timeout))
    error_message = "batch_sync_timeout must be seconds like 3600s."
  }
}

variable "dbt_threads" {
  description = "Concurrent dbt model builds (DBT_THREADS)."
  type        = number
  default     = 4

  validation {
    condition     = var.dbt_threads >= 1 && var.dbt_threads <= 32
    error_message = "dbt_threads must be between 1 and 32."
  }
}

variable "stream_sync_max_instances" {
  description = "Maximum streaming sync instances; bounds the request rate to destination APIs during a backlog."
  type        = number
  default     = 10

  validation {
    condition     = var.stream_sync_max_instances >= 1 && var.stream_sync_max_instances <= 1000
    error_message = "stream_sync_max_instances must be between 1 and 1000."
  }
}

variable "sync_config_yaml" {
  description = "Contents of tagpipe.yaml with the sync and destination definitions (stored as a secret, mounted at /etc/tagpipe/tagpipe.yaml). Refer to credentials as $${ENV_NAME}, never inline them."
  type        = string
  default     = "syncs: []\n"

  validation {
    condition     = can(keys(yamldecode(var.sync_config_yaml)))
    error_message = "sync_config_yaml must be a YAML mapping (syncs:, destinations:, …)."
  }
}

variable "destination_secrets" {
  description = "Destination credentials: environment variable name => Secret Manager secret id, e.g. { META_ACCESS_TOKEN = \"tagpipe-meta-access-token\" }. The secrets are created here and exposed to the sync workloads as those variables."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.destination_secrets : can(regex("^[A-Z][A-Z0-9_]*$", k)) && can(regex("^[A-Za-z0-9_-]{1,255}$", v))])
    error_message = "destination_secrets keys must be UPPER_SNAKE env names and values secret ids (letters, digits, - and _)."
  }
}

variable "destination_secret_values" {
  description = "Optional first versions for destination_secrets, keyed by the same env names. Leave empty to add versions with gcloud instead, which keeps the values out of Terraform state."
  type        = map(string)
  default     = {}
  sensitive   = true
}

# --- Alerting -------------------------------------------------------------------------------------------------

variable "alert_email" {
  description = "E-mail address for a notification channel created here. null = none."
  type        = string
  default     = null

  validation {
    condition     = var.alert_email == null || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", coalesce(var.alert_email, "x@y.z")))
    error_message = "alert_email must be an e-mail address."
  }
}

variable "notification_channels" {
  description = "Existing Cloud Monitoring notification channel ids (projects/…/notificationChannels/…) that receive every alert."
  type        = list(string)
  default     = []
}

variable "alert_collector_5xx_ratio" {
  description = "Alert when this share of collector responses is 5xx over 5 minutes."
  type        = number
  default     = 0.01

  validation {
    condition     = var.alert_collector_5xx_ratio > 0 && var.alert_collector_5xx_ratio < 1
    error_message = "alert_collector_5xx_ratio must be between 0 and 1."
  }
}

variable "alert_invalid_ratio" {
  description = "Alert when messages published to the invalid topic exceed this share of those published to the events topic over 15 minutes."
  type        = number
  default     = 0.05

  validation {
    condition     = var.alert_invalid_ratio > 0 && var.alert_invalid_ratio < 10
    error_message = "alert_invalid_ratio must be positive (and below 10)."
  }
}

variable "alert_oldest_unacked_seconds" {
  description = "Alert when the oldest unacknowledged message on a subscription is older than this."
  type        = number
  default     = 900

  validation {
    condition     = var.alert_oldest_unacked_seconds >= 60
    error_message = "alert_oldest_unacked_seconds must be at least 60."
  }
}

variable "publish_error_log_filter" {
  description = "Cloud Logging filter (added to the collector's resource filter) counting failed publishes for the publish-errors metric."
  type        = string
  default     = "severity>=ERROR AND (jsonPayload.component=\"bus\" OR jsonPayload.message:\"publish\")"
}

variable "collector_spool_max_bytes" {
  description = "Bytes the collector may spool while Pub/Sub is unreachable before answering 503. Cloud Run's disk is memory: keep it well below collector_memory."
  type        = number
  default     = 67108864

  validation {
    condition     = var.collector_spool_max_bytes >= 1048576
    error_message = "collector_spool_max_bytes must be at least 1 MiB."
  }
}

variable "exclude_collector_request_logs" {
  description = "Exclude the collector's per-request Cloud Run logs from the _Default log bucket. At high volume they are the largest logging cost; the 5xx alert and dashboard use metrics, not these logs."
  type        = bool
  default     = false
}
