"""Platform administration: tenants (search, suspend, audit trail) and ministry reviewers."""
