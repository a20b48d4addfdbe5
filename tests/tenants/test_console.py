"""The console home links each member to what their role may open, and nothing else."""

from __future__ import annotations

import re

import pytest

from core.models import PlatformRole
from core.models import Role

SECTIONS = ["stock", "campaigns", "venues", "team", "api-keys", "billing"]


@pytest.mark.parametrize(
    ("role", "visible"),
    [
        (Role.CHECKIN, {"stock"}),
        (Role.COORDINATOR, {"stock", "campaigns", "venues"}),
        (Role.ADMIN, {"stock", "campaigns", "venues", "team", "api-keys"}),
        (Role.OWNER, set(SECTIONS)),
    ],
)
def test_console_links_follow_the_role(client, create_tenant, create_user, login, role, visible):
    tenant = create_tenant()
    login(client, create_user(tenant=tenant, role=role))
    page = client.get(f"/o/{tenant.slug}/").get_data(as_text=True)
    linked = set(re.findall(rf'href="/o/{tenant.slug}/([a-z-]+)/?"', page)) & set(SECTIONS)
    assert linked == visible
    for section in linked:  # every link shown opens
        assert client.get(f"/o/{tenant.slug}/{section}", follow_redirects=True).status_code == 200


@pytest.mark.parametrize(
    ("role", "link"),
    [(PlatformRole.REVIEWER, "/review/"), (PlatformRole.PLATFORM_ADMIN, "/admin/")],
)
def test_home_links_platform_staff_to_their_console(client, create_user, login, role, link):
    login(client, create_user(platform_role=role))
    assert f'href="{link}"' in client.get("/").get_data(as_text=True)
