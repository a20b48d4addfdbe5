"""API resources, one module per area, each registering operations on ``blueprint.api``."""
