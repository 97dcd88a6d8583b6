#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, wgsplit.gateway developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: ipset_set
short_description: Manage ipsets and their members in a single transaction
version_added: 0.1.0
description:
  - Creates, updates or removes one kernel IP set (C(ipset)), or many sets of the same definition
    (I(names)), and, optionally, makes their members exactly a given list or adds a list to what is there.
  - State is read from C(ipset save); members are added and deleted in place in one C(ipset restore)
    transaction, so rules and resolvers that use the set never see it missing or empty.
  - When the type or the options of an existing set must change, or members both come and go (a network merged
    into a larger one, deleted and then added in place, would leave its addresses in neither for a moment), a filled
    replacement is built under a temporary name and swapped in (C(ipset swap)); the set is never destroyed while
    used. A set with I(counters) keeps its members edited in place, so the others keep counting.
  - With I(persist=true) the set (and the members this module manages) is written to
    C(/etc/wgsplit/ipset/NAME.save), which C(wgsplit-restore.service) loads at boot.
  - Members that others add (a resolver) are saved by C(wgsplit-learned.timer) every five minutes and at
    shutdown into C(/etc/wgsplit/learned/NAME.save), each with the time it has left, and restored at boot
    after the set. When the module removes the set, or members of it, that file goes too, so what was
    removed never comes back with a reboot.
  - Sets the module was not told about are never touched. With I(names), all the sets are read with
    one C(ipset save) and changed with one C(ipset restore).
extends_documentation_fragment:
  - wgsplit.gateway.attributes
options:
  name:
    description:
      - Name of the set (at most 31 characters). Exactly one of I(name), I(names) and I(sets) is required.
    type: str
  names:
    description:
      - Names of sets that share one definition (type, family, options, members, state), managed in
        one transaction (a role's many resolver-filled sets cost one module run, not one each).
    type: list
    elements: str
  sets:
    description:
      - Sets managed in one transaction, each with its own I(family) and, where given, its own I(type),
        I(maxelem), I(timeout), I(counters) and I(members); what a set leaves out comes from the top-level
        option of that name (so sets of both families can share one definition).
    type: list
    elements: dict
    suboptions:
      name:
        description: Name of the set.
        type: str
        required: true
      family:
        description: Address family of the set.
        type: str
        choices: [inet, inet6]
        default: inet
      type:
        description: Its type (else I(type)).
        type: str
      maxelem:
        description: Its maximum number of members (else I(maxelem)).
        type: int
      timeout:
        description: Its default member timeout (else I(timeout)).
        type: int
      counters:
        description: Whether its members count packets and bytes (else I(counters)).
        type: bool
      members:
        description: Its members (else I(members)).
        type: list
        elements: str
  type:
    description:
      - The set type, as C(ipset create) takes it.
      - Members of C(hash:ip) are single addresses; members of C(hash:net) are addresses or networks
        and are normalised the way the kernel stores them (host bits cleared, C(/32) and C(/128)
        dropped); members of C(hash:net,iface) are such a network, a comma and an interface name.
        Members of other types are compared as given.
    type: str
    default: hash:net
  family:
    description: Address family of the set (of every set of I(names)).
    type: str
    choices: [inet, inet6]
    default: inet
  maxelem:
    description: Maximum number of members. The kernel's default (65536) when not given.
    type: int
  hashsize:
    description:
      - Initial hash size. Used only when the set is created (the kernel grows it), so it is never
        reported as a change.
    type: int
  timeout:
    description:
      - Default timeout of members in seconds; C(0) enables per-member timeouts without a default.
      - Omit for a set whose members never expire.
    type: int
  counters:
    description:
      - Each member counts the packets and bytes of the packets it matches (C(ipset list) shows them; a
        rule with C(-m set) updates them). Counts survive a change of members and, saved with what the
        resolver learned, a reboot.
    type: bool
    default: false
  members:
    description:
      - The members. Omit to leave the members alone (for sets that a resolver fills).
    type: list
    elements: str
  exclusive:
    description:
      - When C(true) the set holds exactly I(members) afterwards; when C(false) I(members) are added
        and other members are kept.
    type: bool
    default: true
  state:
    description:
      - C(absent) destroys the set. It fails, changing nothing, while a firewall rule or another
        set still references it (in check mode it reports the removal).
    type: str
    choices: [present, absent]
    default: present
  persist:
    description: Write the set to C(/etc/wgsplit/ipset/) so that it is restored at boot.
    type: bool
    default: true
notes:
  - Requires the C(ipset) command on the managed host.
seealso:
  - module: wgsplit.gateway.mangle_mark
'''

EXAMPLES = r'''
- name: Addresses that client alice sends through upstream 1
  wgsplit.gateway.ipset_set:
    name: wgsplit-alice-ip4
    type: hash:net
    members:
      - 203.0.113.0/24
      - 198.51.100.7

- name: A set that dnsmasq fills; members are left to the resolver
  wgsplit.gateway.ipset_set:
    name: wgsplit-d1-4
    type: hash:ip
    maxelem: 262144

- name: Resolver-filled sets of both families, in one transaction
  wgsplit.gateway.ipset_set:
    sets:
      - {name: wgs-alice-p4, family: inet}
      - {name: wgs-alice-p6, family: inet6}
    type: hash:ip

- name: Bytes each client sends through an upstream (iptables -m set --match-set NAME src,dst)
  wgsplit.gateway.ipset_set:
    name: wgs-A-sent-up4
    type: hash:net,iface
    counters: true
    members: ["10.8.0.2,wg-up-1"]

- name: Add one address, keep the rest
  wgsplit.gateway.ipset_set:
    name: wgsplit-alice-ip4
    members: [192.0.2.10]
    exclusive: false

- name: Remove the set (fails while an iptables rule still uses it)
  wgsplit.gateway.ipset_set:
    name: wgsplit-alice-ip4
    state: absent
'''

RETURN = r'''
added:
  description: Members added (normalised as the kernel stores them).
  returned: always
  type: list
  elements: str
  sample: [203.0.113.0/24]
removed:
  description: Members deleted.
  returned: always
  type: list
  elements: str
  sample: [198.51.100.9]
recreated:
  description: Whether the set was rebuilt and swapped in (its type or options changed, or members both came and went).
  returned: always
  type: bool
member_count:
  description: Number of members afterwards (or that there would be, in check mode).
  returned: always
  type: int
  sample: 2
sets:
  description: Per set, what changed (keys as above, plus C(state)); the top-level keys describe the first set.
  returned: always
  type: dict
  sample: {wgs-alice-p4: {state: present, added: [], removed: [], recreated: false, member_count: 0}}
'''

from ansible_collections.wgsplit.gateway.plugins.module_utils.netstate import BulkModule
from ansible_collections.wgsplit.gateway.plugins.module_utils.sets import ARGUMENTS, IpsetSet


def main():
    IpsetSet(BulkModule(supports_check_mode=True, **ARGUMENTS)).run()


if __name__ == '__main__':
    main()
