terraform {
  required_version = ">= 1.5"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.10, < 8.0"
    }
  }

  # Keep state in a bucket for anything beyond a trial (the bucket must exist first):
  # backend "gcs" {
  #   bucket = "my-project-tfstate"
  #   prefix = "tagpipe"
  # }
}

provider "google" {
  project = var.project_id
  region  = var.region
}
