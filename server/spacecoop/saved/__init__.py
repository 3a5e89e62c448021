"""Saved queries (queries/*.rq): headers, typed parameters, binding, expected answers, the catalogue."""
