"""Venues and their permit documents, from draft to the ministry's decision."""
