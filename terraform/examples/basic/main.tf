# A complete tagpipe deployment: `terraform apply` with a project id, a region and a first-party subdomain.
# Syncs are defined in tagpipe.yaml next to this file (stored as a secret, read by the sync workloads).

locals {
  registry = "${var.region}-docker.pkg.dev/${var.project_id}/tagpipe"
}

module "tagpipe" {
  source = "../../modules/tagpipe"

  project_id          = var.project_id
  region              = var.region
  domain              = var.domain
  cookie_domain       = var.cookie_domain
  cors_origins        = var.site_origins
  write_keys          = var.write_keys
  ga4_measurement_ids = var.ga4_measurement_ids

  app_image = coalesce(var.app_image, "${local.registry}/tagpipe:${var.image_tag}")
  dbt_image = coalesce(var.dbt_image, "${local.registry}/tagpipe-dbt:${var.image_tag}")

  sync_config_yaml    = file("${path.module}/tagpipe.yaml")
  destination_secrets = var.destination_secrets

  models_schedule                = var.models_schedule
  collector_min_instances        = var.collector_min_instances
  exclude_collector_request_logs = var.exclude_collector_request_logs
  enable_cloud_armor             = var.enable_cloud_armor

  alert_email         = var.alert_email
  deletion_protection = var.deletion_protection
}
