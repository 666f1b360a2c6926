# Secret Manager: the collector's write keys and debug token, tagpipe.yaml for the syncs, and one secret per
# destination credential. Each secret is readable only by the workloads that use it.

locals {
  # tagpipe.yaml as the syncs see it: the user's document with this deployment's warehouse settings filled in,
  # so renamed datasets need no second edit (the app reads dataset names only from the file).
  sync_config_doc = yamldecode(var.sync_config_yaml)
  sync_config = yamlencode(merge(local.sync_config_doc, {
    mode = "gcp"
    # The config reader requires a write key in gcp mode even in workloads that collect nothing; the syncs get
    # a placeholder rather than read access to the real keys.
    auth = { writeKeys = ["not-used-by-sync-workloads"] }
    warehouse = merge(try(local.sync_config_doc.warehouse, {}), {
      kind         = "bigquery"
      projectId    = var.project_id
      location     = var.bigquery_location
      rawDataset   = var.dataset_raw
      martsDataset = var.dataset_marts
      stateDataset = var.dataset_state
    })
  }))

  debug_enabled = var.debug_token != null
}

resource "google_secret_manager_secret" "write_keys" {
  project   = var.project_id
  secret_id = "${local.prefix}-write-keys"
  labels    = local.labels

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_version" "write_keys" {
  secret      = google_secret_manager_secret.write_keys.id
  secret_data = join(",", var.write_keys) # TAGPIPE_WRITE_KEYS is a comma-separated list
}

resource "google_secret_manager_secret" "debug_token" {
  count = local.debug_enabled ? 1 : 0

  project   = var.project_id
  secret_id = "${local.prefix}-debug-token"
  labels    = local.labels

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_version" "debug_token" {
  count = local.debug_enabled ? 1 : 0

  secret      = google_secret_manager_secret.debug_token[0].id
  secret_data = var.debug_token
}

resource "google_secret_manager_secret" "sync_config" {
  project   = var.project_id
  secret_id = "${local.prefix}-config"
  labels    = local.labels

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_version" "sync_config" {
  secret      = google_secret_manager_secret.sync_config.id
  secret_data = local.sync_config
}

resource "google_secret_manager_secret" "destination" {
  for_each = var.destination_secrets

  project   = var.project_id
  secret_id = each.value
  labels    = local.labels

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

# Cloud Run refuses to start a revision whose secret has no version. Either pass the values here or add versions
# with `gcloud secrets versions add` before the full apply (docs/deploy.md).
resource "google_secret_manager_secret_version" "destination" {
  for_each = nonsensitive(toset([for k in keys(var.destination_secret_values) : k if contains(keys(var.destination_secrets), k)]))

  secret      = google_secret_manager_secret.destination[each.key].id
  secret_data = var.destination_secret_values[each.key]
}

# --- Accessors ------------------------------------------------------------------------------------------------

resource "google_secret_manager_secret_iam_member" "collector_write_keys" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.write_keys.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.workload["collector"].member
}

resource "google_secret_manager_secret_iam_member" "collector_debug_token" {
  count = local.debug_enabled ? 1 : 0

  project   = var.project_id
  secret_id = google_secret_manager_secret.debug_token[0].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.workload["collector"].member
}

resource "google_secret_manager_secret_iam_member" "sync_config" {
  for_each = toset(["batch-sync", "stream-sync"])

  project   = var.project_id
  secret_id = google_secret_manager_secret.sync_config.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.workload[each.key].member
}

resource "google_secret_manager_secret_iam_member" "destination" {
  for_each = {
    for pair in setproduct(keys(var.destination_secrets), ["batch-sync", "stream-sync"]) :
    "${pair[0]}/${pair[1]}" => { env = pair[0], workload = pair[1] }
  }

  project   = var.project_id
  secret_id = google_secret_manager_secret.destination[each.value.env].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.workload[each.value.workload].member
}
