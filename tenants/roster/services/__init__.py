"""The roster's services: the import, invite codes, priority groups.

Typed ``verb_noun()`` functions that flush and never commit; the public API of the
package is re-exported here.
"""

from tenants.roster.services.common import RosterError
from tenants.roster.services.groups import add_priority_group
from tenants.roster.services.groups import remove_priority_group
from tenants.roster.services.groups import update_priority_group
from tenants.roster.services.importing import ImportReport
from tenants.roster.services.importing import RowResult
from tenants.roster.services.importing import RowStatus
from tenants.roster.services.importing import check_row
from tenants.roster.services.importing import import_roster
from tenants.roster.services.importing import roster_size
from tenants.roster.services.invites import code_hash
from tenants.roster.services.invites import create_invite_codes
from tenants.roster.services.invites import invite_code_counts
from tenants.roster.services.invites import normalise_code

__all__ = [
    "ImportReport",
    "RosterError",
    "RowResult",
    "RowStatus",
    "add_priority_group",
    "check_row",
    "code_hash",
    "create_invite_codes",
    "import_roster",
    "invite_code_counts",
    "normalise_code",
    "remove_priority_group",
    "roster_size",
    "update_priority_group",
]
