"""Employee campaigns' rosters and eligibility, invite codes, and public campaigns'
priority groups (issue 4).

The booking page (``tenants/public``) asks :mod:`tenants.roster.eligibility` who may
book and records claims through it; :mod:`tenants.roster.priority` gives it a public
campaign's priority groups.
"""
