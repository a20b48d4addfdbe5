"""Reports for the ministry and the tenant: exporters, export runs, schedules,
dashboards, and the reviewers' cross-tenant counts (issue 7)."""
