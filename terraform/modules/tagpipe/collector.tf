# The collector: a Cloud Run service reachable only through the load balancer (lb.tf) on the site's own
# subdomain. Configuration is the app's env contract (src/core/config.ts ENV_MAP); the write keys and debug
# token come from Secret Manager.

locals {
  # Always-set variables, then the optional ones.
  collector_env_base = {
    TAGPIPE_MODE          = "gcp"
    GOOGLE_CLOUD_PROJECT  = var.project_id
    TAGPIPE_TOPIC_EVENTS  = google_pubsub_topic.events.name
    TAGPIPE_TOPIC_INVALID = google_pubsub_topic.invalid.name
    TAGPIPE_CORS_ORIGINS  = join(",", var.cors_origins)
    # Added by the load balancer's backend service from the client's IP (lb.tf).
    TAGPIPE_GEO_COUNTRY_HEADER = local.geo_headers.country
    TAGPIPE_GEO_REGION_HEADER  = local.geo_headers.region
    TAGPIPE_GEO_CITY_HEADER    = local.geo_headers.city
    # The load balancer and Cloud Run's front end each append to X-Forwarded-For.
    TAGPIPE_TRUST_PROXY_HOPS = "2"
    # Cloud Run's filesystem is memory: the spool lives there and is bounded accordingly.
    TAGPIPE_DATA_DIR        = "/tmp/tagpipe"
    TAGPIPE_SPOOL_MAX_BYTES = tostring(var.collector_spool_max_bytes)
    TAGPIPE_LOG_FORMAT      = "json"
  }
  collector_env = merge(
    local.collector_env_base,
    length(var.ga4_measurement_ids) > 0 ? { TAGPIPE_GA4_MEASUREMENT_IDS = join(",", var.ga4_measurement_ids) } : {},
    var.cookie_domain != null ? { TAGPIPE_COOKIE_DOMAIN = var.cookie_domain } : {},
  )

  collector_secret_env = merge(
    { TAGPIPE_WRITE_KEYS = google_secret_manager_secret.write_keys.secret_id },
    local.debug_enabled ? { TAGPIPE_DEBUG_TOKEN = google_secret_manager_secret.debug_token[0].secret_id } : {},
  )
}

resource "google_cloud_run_v2_service" "collector" {
  project             = var.project_id
  name                = "${local.prefix}-collector"
  location            = var.region
  labels              = local.labels
  deletion_protection = var.deletion_protection
  # Browsers reach it only via the load balancer, which adds the geo headers and serves the first-party domain.
  ingress = "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"

  template {
    service_account                  = google_service_account.workload["collector"].email
    max_instance_request_concurrency = var.collector_concurrency
    # Hits are small and answered once Pub/Sub confirms; a request this slow is stuck, and the client retries.
    timeout = "30s"

    scaling {
      min_instance_count = var.collector_min_instances
      max_instance_count = var.collector_max_instances
    }

    containers {
      image   = var.app_image
      command = local.cli
      args    = ["collect"]

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = var.collector_cpu
          memory = var.collector_memory
        }
        # Publishing happens inside the request, so CPU outside requests is not needed.
        cpu_idle          = true
        startup_cpu_boost = true
      }

      dynamic "env" {
        for_each = local.collector_env
        content {
          name  = env.key
          value = env.value
        }
      }

      dynamic "env" {
        for_each = local.collector_secret_env
        content {
          name = env.key
          value_source {
            secret_key_ref {
              secret  = env.value
              version = "latest"
            }
          }
        }
      }

      startup_probe {
        initial_delay_seconds = 0
        period_seconds        = 2
        timeout_seconds       = 2
        failure_threshold     = 15

        http_get {
          path = "/healthz"
        }
      }

      liveness_probe {
        period_seconds    = 15
        timeout_seconds   = 3
        failure_threshold = 3

        http_get {
          path = "/healthz"
        }
      }
    }
  }

  depends_on = [
    google_project_service.apis,
    google_secret_manager_secret_version.write_keys,
    google_secret_manager_secret_version.debug_token,
    google_secret_manager_secret_iam_member.collector_write_keys,
    google_secret_manager_secret_iam_member.collector_debug_token,
  ]
}

# Anyone on the internet may call the collector, but ingress admits only the load balancer; the write keys and
# measurement ids decide what is accepted.
resource "google_cloud_run_v2_service_iam_member" "collector_public" {
  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_service.collector.name
  role     = "roles/run.invoker"
  member   = "allUsers"
}
