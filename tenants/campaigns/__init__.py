"""Campaigns: what a tenant offers (vaccine, doses, dates, venues) and the slots it opens."""
