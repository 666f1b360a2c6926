# The streaming sync: a Cloud Run service receiving the filtered push subscription (pubsub.tf) and sending each
# event to the `cadence: stream` syncs within seconds. Only the push identity may invoke it (iam.tf).

resource "google_cloud_run_v2_service" "stream_sync" {
  project             = var.project_id
  name                = "${local.prefix}-stream-sync"
  location            = var.region
  labels              = local.labels
  deletion_protection = var.deletion_protection
  # Pub/Sub push comes from Google's front ends, not from a VPC; IAM (no public invoker) keeps it private.
  ingress = "INGRESS_TRAFFIC_ALL"

  template {
    service_account = google_service_account.workload["stream-sync"].email
    # Pub/Sub waits up to the subscription's ack deadline (60 s); answering later only causes a redelivery.
    timeout                          = "60s"
    max_instance_request_concurrency = 40

    scaling {
      min_instance_count = 0
      max_instance_count = var.stream_sync_max_instances
    }

    containers {
      image   = var.app_image
      command = local.cli
      args    = ["stream-sync"]

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = "1"
          memory = "512Mi"
        }
        cpu_idle = true
      }

      dynamic "env" {
        for_each = local.sync_env
        content {
          name  = env.key
          value = env.value
        }
      }

      dynamic "env" {
        for_each = var.destination_secrets
        content {
          name = env.key
          value_source {
            secret_key_ref {
              secret  = google_secret_manager_secret.destination[env.key].secret_id
              version = "latest"
            }
          }
        }
      }

      volume_mounts {
        name       = "config"
        mount_path = local.config_dir
      }

      startup_probe {
        period_seconds    = 2
        timeout_seconds   = 2
        failure_threshold = 15

        tcp_socket {
          port = 8080
        }
      }
    }

    volumes {
      name = "config"
      secret {
        secret = google_secret_manager_secret.sync_config.secret_id
        items {
          version = "latest"
          path    = local.config_file
        }
      }
    }
  }

  depends_on = [
    google_project_service.apis,
    google_secret_manager_secret_version.sync_config,
    google_secret_manager_secret_version.destination,
    google_secret_manager_secret_iam_member.sync_config,
    google_secret_manager_secret_iam_member.destination,
  ]
}
