"""A tenant's team: invitations, roles, removal and membership end dates."""
