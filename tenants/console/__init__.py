"""The tenant's console at /o/<tenant>/: the home every member lands on."""
