"""A tenant's way in: sign-up, team, venues and permit documents, ministry review."""
