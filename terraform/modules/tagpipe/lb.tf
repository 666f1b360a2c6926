# The first-party endpoint: a global external Application Load Balancer serving var.domain with a
# Google-managed certificate, in front of the collector through a serverless NEG. The backend service adds the
# client's geo headers, optionally throttles per IP with Cloud Armor, and plain HTTP is redirected to HTTPS.

resource "google_compute_region_network_endpoint_group" "collector" {
  project               = var.project_id
  name                  = "${local.prefix}-collector-neg"
  region                = var.region
  network_endpoint_type = "SERVERLESS"

  cloud_run {
    service = google_cloud_run_v2_service.collector.name
  }

  depends_on = [google_project_service.apis]
}

resource "google_compute_security_policy" "collector" {
  count = var.enable_cloud_armor ? 1 : 0

  project     = var.project_id
  name        = "${local.prefix}-collector-policy"
  description = "Per-client-IP throttle in front of the tagpipe collector."

  rule {
    action      = "throttle"
    priority    = 1000
    description = "Throttle each client IP"

    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }

    rate_limit_options {
      conform_action = "allow"
      # 429 tells the SDK and Segment libraries to back off and retry, so throttled events are not lost.
      exceed_action  = "deny(429)"
      enforce_on_key = "IP"

      rate_limit_threshold {
        count        = var.rate_limit_per_minute
        interval_sec = 60
      }
    }
  }

  rule {
    action      = "allow"
    priority    = 2147483647
    description = "Default: allow"

    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
  }
}

resource "google_compute_backend_service" "collector" {
  project               = var.project_id
  name                  = "${local.prefix}-collector-backend"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  protocol              = "HTTPS"
  security_policy       = var.enable_cloud_armor ? google_compute_security_policy.collector[0].id : null

  # Variables the load balancer fills from the client's IP; the collector reads these headers for geo
  # enrichment and the consent region (TAGPIPE_GEO_*_HEADER in collector.tf).
  custom_request_headers = [
    "${local.geo_headers.country}:{client_region}",
    "${local.geo_headers.region}:{client_region_subdivision}",
    "${local.geo_headers.city}:{client_city}",
  ]

  backend {
    group = google_compute_region_network_endpoint_group.collector.id
  }

  log_config {
    enable      = true
    sample_rate = 0.1
  }
}

resource "google_compute_url_map" "collector" {
  project         = var.project_id
  name            = "${local.prefix}-collector"
  default_service = google_compute_backend_service.collector.id
}

resource "google_compute_managed_ssl_certificate" "collector" {
  project = var.project_id
  # The name carries the domain's hash so a domain change creates the new certificate before the old one goes.
  name = "${local.prefix}-collector-${substr(sha256(var.domain), 0, 8)}"

  managed {
    domains = [var.domain]
  }

  lifecycle {
    create_before_destroy = true
  }

  depends_on = [google_project_service.apis]
}

resource "google_compute_target_https_proxy" "collector" {
  project          = var.project_id
  name             = "${local.prefix}-collector-https"
  url_map          = google_compute_url_map.collector.id
  ssl_certificates = [google_compute_managed_ssl_certificate.collector.id]
}

resource "google_compute_global_address" "collector" {
  project    = var.project_id
  name       = "${local.prefix}-collector-ip"
  ip_version = "IPV4"

  depends_on = [google_project_service.apis]
}

resource "google_compute_global_forwarding_rule" "collector_https" {
  project               = var.project_id
  name                  = "${local.prefix}-collector-https"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  ip_address            = google_compute_global_address.collector.id
  ip_protocol           = "TCP"
  port_range            = "443"
  target                = google_compute_target_https_proxy.collector.id
  labels                = local.labels
}

# --- HTTP -> HTTPS ---------------------------------------------------------------------------------------------

resource "google_compute_url_map" "redirect" {
  project = var.project_id
  name    = "${local.prefix}-collector-redirect"

  default_url_redirect {
    https_redirect         = true
    redirect_response_code = "MOVED_PERMANENTLY_DEFAULT"
    strip_query            = false
  }
}

resource "google_compute_target_http_proxy" "redirect" {
  project = var.project_id
  name    = "${local.prefix}-collector-http"
  url_map = google_compute_url_map.redirect.id
}

resource "google_compute_global_forwarding_rule" "collector_http" {
  project               = var.project_id
  name                  = "${local.prefix}-collector-http"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  ip_address            = google_compute_global_address.collector.id
  ip_protocol           = "TCP"
  port_range            = "80"
  target                = google_compute_target_http_proxy.redirect.id
  labels                = local.labels
}
