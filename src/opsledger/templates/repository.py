"""The only SQL for job templates."""

from __future__ import annotations

from opsledger.db import queries
from opsledger.templates.models import JobTemplate

CATALOGUE = queries.Catalogue(JobTemplate, JobTemplate.name)
get = CATALOGUE.get
name_taken = CATALOGUE.name_taken
page = CATALOGUE.page
by_reference = CATALOGUE.by_reference
