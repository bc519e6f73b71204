"""One thin router per resource; each route calls `api.service.JobService` and returns an `api.schemas` model."""
