"""Sentra's shared kernel: app factory, settings, tenancy, auth, jobs, mail, storage, audit.

It knows nothing of vaccines; feature packages build on it.
"""
