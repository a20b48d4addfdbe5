"""The tenant REST API ``/api/v1``, its documentation, and the console's API keys page."""
