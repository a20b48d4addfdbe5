"""On site: check-in, screening, vials, observation, end of day (issue 6).

PLACEHOLDER reserved for the work stream named above so the chain stays linear while
several people work at once; fill in upgrade() and downgrade() (and rewrite this
docstring). An unfilled placeholder is removed before the work lands.

Revision ID: 0060_onsite
Revises: 0050_roster
Create Date: 2026-11-23 21:00:00
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import core.db  # noqa: F401
from core import rls  # noqa: F401

revision = "0060_onsite"
down_revision = "0050_roster"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
