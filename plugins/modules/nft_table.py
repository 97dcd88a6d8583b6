#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, wgsplit.gateway developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: nft_table
short_description: Manage a table of nftables the collection owns, replaced as a whole in one transaction
version_added: 0.3.0
description:
  - Makes table C(inet TABLE) hold exactly I(definition) (its chains, maps and sets) plus the sets of I(sets),
    which a resolver fills (dnsmasq C(nftset=)) and which keep their elements while their declaration holds.
  - The change is one C(nft -f) transaction, so packets see the old table or the new one, never a part of either.
    Every chain and map of the table is replaced; nothing outside the table is touched (C(flush ruleset),
    other tables, iptables-nft's tables stay as they are).
  - The table is the collection's by its comment C(wgsplit.gateway); a table of that name without it is
    refused (the module fails and changes nothing, also with C(state=absent)).
  - The kernel's terse listing of the table (its lines of C(nft -t list ruleset inet), which reads no set element) right
    after the change is kept beside the boot file, so a later listing that differs (a rule deleted by someone else,
    the table gone) is repaired by the next run.
  - Writes C(/etc/wgsplit/nftables/TABLE.nft), which C(wgsplit-restore.service) loads at boot, and
    C(TABLE.fallback) (I(fallback)), loaded instead when that file is missing or does not load. The sets of
    I(sets) are saved with what the resolver learned (C(wgsplit-learned.timer)) and refilled at boot.
extends_documentation_fragment:
  - wgsplit.gateway.attributes
options:
  table:
    description: Name of the table (family C(inet)).
    type: str
    default: wgsplit
  definition:
    description:
      - The inside of C(table inet TABLE { ... }), one line per item, in nft syntax. Required with
        C(state=present) unless only I(flush) is given.
      - Lines cannot leave the table (a brace that closes it), include files, define variables, hold comments,
        or quote anything but names.
      - A set declared here (C(set NAME { type ipv4_addr; flags interval; elements = { ... }; })) is part of the
        definition, made again with the chains in each transaction that changes the table, with exactly the elements
        written here. Its name cannot also be in I(sets).
    type: list
    elements: str
  sets:
    description:
      - The table's named sets, declared by the module. A set survives a change of the definition, with its
        elements, while its declaration (type, size, counter) stays the same.
      - A set without I(elements) is filled by others (a resolver, dnsmasq C(nftset=)). What it holds is saved by
        C(wgsplit-learned.timer) and at shutdown, and loaded again at boot.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Set name.
        type: str
        required: true
      type:
        description: Element type (an address, or an address and an interface name).
        type: str
        required: true
        choices: [ipv4_addr, ipv6_addr, ipv4_addr . ifname, ipv6_addr . ifname]
      size:
        description: Most elements the set holds.
        type: int
        default: 65536
      counter:
        description: Each element counts the packets and bytes that matched it.
        type: bool
        default: false
      elements:
        description:
          - Exactly these elements (C(10.8.0.2), C(10.8.0.2 . "wg-up-1")), changed in place one by one, so the
            counters of those that stay keep counting.
        type: list
        elements: str
  flush:
    description:
      - Sets of I(sets) to empty (their domains' rules changed). Given without I(definition), only that is done
        and nothing else of the table changes.
    type: list
    elements: str
  fallback:
    description:
      - Definition loaded at boot instead of I(definition) when that one is missing or does not load (the same
        rules apply to its lines). The collection's plan gives a chain that marks every packet of the server
        interface as not classified, which policy routing refuses.
    type: list
    elements: str
  state:
    description: Whether the table exists.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Requires the C(nft) command (Debian package C(nftables)) and a kernel with table comments (5.10 or later).
seealso:
  - module: wgsplit.gateway.policy_route
  - module: wgsplit.gateway.mangle_mark
'''

EXAMPLES = r'''
- name: Mark the connections of client 10.8.0.2 for upstream 1, the others direct
  wgsplit.gateway.nft_table:
    sets:
      - {name: alice-p4, type: ipv4_addr}
    definition:
      - chain mark-up-1 { meta mark set meta mark & 0x00ffffff | 0x01000000; }
      - chain mark-direct { meta mark set meta mark & 0x007fffff | 0x00800000; }
      - chain client-alice { ip daddr @alice-p4 goto mark-up-1; goto mark-direct; }
      - chain classify {
      - "  type filter hook prerouting priority mangle; policy accept;"
      - "  iifname \"wg0\" ip saddr vmap { 10.8.0.2 : goto client-alice }"
      - "}"

- name: Empty a set whose domains changed, nothing else
  wgsplit.gateway.nft_table:
    flush: [alice-p4]

- name: Remove the table
  wgsplit.gateway.nft_table:
    state: absent
'''

RETURN = r'''
transaction:
  description:
    - The C(nft -f) input of the change (empty when there was none).
    - The addresses the resolver learned that a set made again keeps are not listed (they tell which sites clients
      visit); a comment counts them instead.
  returned: always
  type: str
  sample: "add table inet wgsplit\nflush chain inet wgsplit classify\n..."
'''

from ansible_collections.wgsplit.gateway.plugins.module_utils.netstate import BulkModule
from ansible_collections.wgsplit.gateway.plugins.module_utils.nftables import ARGUMENTS, NftTable


def main():
    NftTable(BulkModule(supports_check_mode=True, **ARGUMENTS)).run()


if __name__ == '__main__':
    main()
