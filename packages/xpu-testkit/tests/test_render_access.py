"""Render-node access rules: POSIX modes, groups and the logind ACLs seen on real machines."""

from __future__ import annotations

from xpu_tool.probes.pci import RenderNode
from xpu_tool.probes.render import Identity, can_open, parse_getfacl

# intel/compute-runtime#964: `crw-rw----+ 1 root render 226, 128 /dev/dri/renderD128`
NODE = RenderNode(
    "renderD128", uid=0, gid=105, owner="root", group="render", mode=0o660, acl=True, accessible_by_runner=False
)
# `getfacl -n /dev/dri/renderD128` on a desktop with a local session of uid 1000 (systemd-logind uaccess)
GETFACL = """# file: dev/dri/renderD128
# owner: 0
# group: 105
user::rw-
user:1000:rw-
group::rw-
mask::rw-
other::---
"""


def test_group_member_can_open() -> None:
    ok, reason = can_open(NODE, Identity("ollama", 990, frozenset({990, 105})))
    assert ok and reason == "member of group render"


def test_service_user_outside_the_group_cannot() -> None:
    ok, reason = can_open(NODE, Identity("ollama", 990, frozenset({990})), parse_getfacl(GETFACL))
    assert not ok and "not in group render" in reason


def test_desktop_user_gets_in_only_through_the_session_acl() -> None:
    acl = parse_getfacl(GETFACL)
    assert acl[("user", "1000")] == "rw-"
    ok, reason = can_open(NODE, Identity("alice", 1000, frozenset({1000})), acl)
    assert ok and "uaccess" in reason
    ok, _ = can_open(NODE, Identity("alice", 1000, frozenset({1000})), None)  # logged out: no ACL entry
    assert not ok


def test_mask_limits_acl_entries() -> None:
    acl = parse_getfacl(GETFACL.replace("mask::rw-", "mask::r--"))
    ok, _ = can_open(NODE, Identity("alice", 1000, frozenset({1000})), acl)
    assert not ok


def test_root_and_world_writable() -> None:
    assert can_open(NODE, Identity("root", 0, frozenset({0})))[0]
    open_node = RenderNode("renderD128", 0, 105, "root", "render", 0o666, False, True)
    assert can_open(open_node, Identity("nobody", 65534, frozenset({65534})))[0]
