# Scheduled work: the dbt models job (Dockerfile.dbt) and the batch sync job (the app image), each a Cloud Run
# job started by its own Cloud Scheduler job. Also the settings both sync workloads share (sync_env, the
# mounted tagpipe.yaml), used by stream_sync.tf too.

locals {
  sync_env = {
    TAGPIPE_MODE         = "gcp"
    GOOGLE_CLOUD_PROJECT = var.project_id
    TAGPIPE_BQ_PROJECT   = var.project_id
    TAGPIPE_BQ_LOCATION  = var.bigquery_location
    TAGPIPE_CONFIG       = local.config_path
    TAGPIPE_DATA_DIR     = "/tmp/tagpipe"
    TAGPIPE_LOG_FORMAT   = "json"
  }

  models_env = {
    TAGPIPE_BQ_PROJECT     = var.project_id
    TAGPIPE_BQ_LOCATION    = var.bigquery_location
    TAGPIPE_BQ_DATASET     = google_bigquery_dataset.marts.dataset_id
    TAGPIPE_BQ_RAW_DATASET = google_bigquery_dataset.raw.dataset_id
    DBT_THREADS            = tostring(var.dbt_threads)
  }

  run_api = "https://run.googleapis.com/v2/projects/${var.project_id}/locations/${var.region}/jobs"
}

resource "google_cloud_run_v2_job" "models" {
  project             = var.project_id
  name                = "${local.prefix}-models"
  location            = var.region
  labels              = local.labels
  deletion_protection = var.deletion_protection

  template {
    task_count  = 1
    parallelism = 1

    template {
      service_account = google_service_account.workload["models"].email
      timeout         = var.models_timeout
      # dbt build is idempotent (incremental models merge by key), so one retry is safe.
      max_retries = 1

      containers {
        image = var.dbt_image # its CMD is `dbt build --target prod`

        resources {
          limits = {
            cpu    = "1"
            memory = "1Gi"
          }
        }

        dynamic "env" {
          for_each = local.models_env
          content {
            name  = env.key
            value = env.value
          }
        }
      }
    }
  }

  depends_on = [
    google_project_service.apis,
    google_bigquery_dataset_iam_member.models_read_raw,
    google_bigquery_dataset_iam_member.models_write,
  ]
}

resource "google_cloud_run_v2_job" "batch_sync" {
  project             = var.project_id
  name                = "${local.prefix}-batch-sync"
  location            = var.region
  labels              = local.labels
  deletion_protection = var.deletion_protection

  template {
    task_count  = 1
    parallelism = 1

    template {
      service_account = google_service_account.workload["batch-sync"].email
      timeout         = var.batch_sync_timeout
      # No retry inside the schedule: the next scheduled run resumes from the ledger, and a failed execution stays
      # visible to the failed-runs alert.
      max_retries = 0

      containers {
        image   = var.app_image
        command = local.cli
        args    = ["sync", "run", "--due"]

        resources {
          limits = {
            cpu    = "1"
            memory = "1Gi"
          }
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
  }

  depends_on = [
    google_project_service.apis,
    google_secret_manager_secret_version.sync_config,
    google_secret_manager_secret_version.destination,
    google_secret_manager_secret_iam_member.sync_config,
    google_secret_manager_secret_iam_member.destination,
  ]
}

# --- Schedules --------------------------------------------------------------------------------------------------

# One schedule per job (models, then the batch syncs that read what they built).
resource "google_cloud_scheduler_job" "run" {
  for_each = {
    models = {
      job         = google_cloud_run_v2_job.models.name
      schedule    = var.models_schedule
      description = "Runs the tagpipe dbt models job."
    }
    batch-sync = {
      job         = google_cloud_run_v2_job.batch_sync.name
      schedule    = var.batch_sync_schedule
      description = "Runs the tagpipe batch sync job (syncs whose cadence is due)."
    }
  }

  project          = var.project_id
  region           = var.region
  name             = "${local.prefix}-${each.key}"
  description      = each.value.description
  schedule         = each.value.schedule
  time_zone        = var.schedule_time_zone
  attempt_deadline = "180s"

  retry_config {
    retry_count = 1
  }

  http_target {
    http_method = "POST"
    uri         = "${local.run_api}/${each.value.job}:run"

    oauth_token {
      service_account_email = google_service_account.workload["scheduler"].email
      scope                 = "https://www.googleapis.com/auth/cloud-platform"
    }
  }

  depends_on = [google_cloud_run_v2_job_iam_member.scheduler_runs_job]
}

moved {
  from = google_cloud_scheduler_job.models
  to   = google_cloud_scheduler_job.run["models"]
}

moved {
  from = google_cloud_scheduler_job.batch_sync
  to   = google_cloud_scheduler_job.run["batch-sync"]
}
