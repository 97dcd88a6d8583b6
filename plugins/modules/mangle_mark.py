#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, wgsplit.gateway developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: mangle_mark
short_description: Own iptables chains (marks, connmarks, NAT, filter) and their jumps, applied atomically
version_added: 0.1.0
description:
  - Makes the whole rule list of one chain that this module owns (or of each chain of I(chains)) exactly
    the list given, and makes sure each chain in I(jump_from) jumps to it exactly once (a missing jump is
    inserted as the first rule; one already there stays where it is).
  - Rules are structured data (source, destination set with negation, conntrack state, mark match,
    MARK with value and mask, CONNMARK save and restore with mask, NAT targets) rendered in the exact
    form C(iptables-save) prints, so comparing is exact and a second run changes nothing.
  - The change is one C(iptables-restore --noflush) transaction per table and family, touching only the
    owned chains and their jumps, however many chains are given. Rules, chains and marks of other software
    are never read into the change.
  - With I(persist=true) the chain is written to C(/etc/wgsplit/iptables/), which
    C(wgsplit-restore.service) loads at boot after the ipsets.
extends_documentation_fragment:
  - wgsplit.gateway.attributes
options:
  chain:
    description:
      - The chain this module owns (not a built-in chain), 1 to 28 of C(A-Z a-z 0-9 _ -).
      - One of I(chain) and I(chains) is required.
    type: str
  table:
    description: The table of the chain.
    type: str
    choices: [raw, mangle, nat, filter]
    default: mangle
  jump_from:
    description: Built-in (or other) chains that jump to I(chain) once (inserted first when missing).
    type: list
    elements: str
    default: [PREROUTING]
  family:
    description: Which of iptables and ip6tables to manage.
    type: str
    choices: [inet, inet6, both]
    default: inet
  rules:
    description:
      - The rules of the chain, in order. A rule whose addresses are of one family is put only in that
        family's table.
    type: list
    elements: dict
    default: []
    suboptions: &rule_options
      comment:
        description: A comment (letters, digits and C(_-.:/ ,=) only).
        type: str
      family:
        description: Put the rule only into this family's table. Inferred from the addresses when omitted.
        type: str
        choices: [inet, inet6]
      source:
        description: Source address or network.
        type: str
      destination:
        description: Destination address or network.
        type: str
      in_interface:
        description: Incoming interface.
        type: str
      in_interface_prefix:
        description:
          - Every incoming interface whose name starts with this (iptables C(-i PREFIX+)); not with I(in_interface).
          - A trailing C(+) is the same prefix.
        type: str
      out_interface:
        description: Outgoing interface.
        type: str
      out_interface_prefix:
        description:
          - Every outgoing interface whose name starts with this (iptables C(-o PREFIX+)); not with I(out_interface).
          - A trailing C(+) is the same prefix.
        type: str
      out_interface_negate:
        description: Match packets leaving by any other interface than I(out_interface) or I(out_interface_prefix).
        type: bool
        default: false
      protocol:
        description: Protocol.
        type: str
        choices: [tcp, udp, icmp, ipv6-icmp]
      destination_port:
        description: Destination port (needs I(protocol) C(tcp) or C(udp)).
        type: int
      match_set:
        description: Name of an ipset to match.
        type: str
      match_set_flags:
        description: Which address(es) of the packet to look up in I(match_set).
        type: str
        default: dst
        choices: [dst, src, 'src,dst', 'dst,src']
      match_set_negate:
        description: Match packets whose address is NOT in I(match_set).
        type: bool
        default: false
      ctstate:
        description: Conntrack states to match (for example C([NEW])).
        type: list
        elements: str
      ctdir:
        description: Match packets of this direction of their connection (C(REPLY) for replies).
        type: str
        choices: [ORIGINAL, REPLY]
      match_mark:
        description: Match packets whose mark, under I(match_mask), equals this value.
        type: int
      match_mask:
        description: Mask for I(match_mark).
        type: int
        default: 0xffffffff
      match_mark_negate:
        description: Match packets whose mark, under I(match_mask), does NOT equal I(match_mark).
        type: bool
        default: false
      match_connmark:
        description: Match packets whose connection's mark, under I(match_connmask), equals this value.
        type: int
      match_connmask:
        description: Mask for I(match_connmark).
        type: int
        default: 0xffffffff
      match_connmark_negate:
        description: Match packets whose connection's mark, under I(match_connmask), does NOT equal I(match_connmark).
        type: bool
        default: false
      action:
        description:
          - C(mark) sets I(mark) under I(mask) (C(MARK --set-xmark)).
          - C(connmark_save) copies the packet mark under I(mask) to the connection,
            C(connmark_restore) copies it back.
          - C(dnat) needs I(to_destination), C(redirect) needs I(to_ports), C(jump) and C(goto) need I(target)
            (after C(goto), the target chain returns to the chain that jumped here, not to this one).
        type: str
        required: true
        choices: [mark, connmark_save, connmark_restore, return, accept, drop, reject, masquerade, dnat, redirect, jump,
                  goto]
      mark:
        description: The mark value for C(action=mark); must lie within I(mask).
        type: int
      mask:
        description: The bits that C(mark), C(connmark_save) and C(connmark_restore) may change.
        type: int
        default: 0xffffffff
      to_destination:
        description: C(dnat) target address, with an optional C(:port).
        type: str
      to_ports:
        description: C(redirect) target port.
        type: int
      target:
        description: The chain C(jump) jumps to (or C(goto) goes to).
        type: str
  chains:
    description:
      - Many chains in one call, in the order they should be created (a chain before a chain that jumps to
        it); each takes the options I(chain), I(table), I(jump_from), I(rules) and I(state) of a single chain.
      - Chains of one table are changed in one transaction per family, so they may jump to each other.
      - With I(chains), the top-level I(chain), I(table), I(jump_from), I(rules) and I(state) are not used.
    type: list
    elements: dict
    suboptions:
      chain:
        description: The chain.
        type: str
        required: true
      table:
        description: Its table.
        type: str
        choices: [raw, mangle, nat, filter]
        default: mangle
      jump_from:
        description: Chains that jump to it once (inserted first when missing).
        type: list
        elements: str
        default: [PREROUTING]
      rules:
        description: Its rules, as I(rules).
        type: list
        elements: dict
        default: []
        suboptions: *rule_options
      state:
        description: C(absent) removes its jumps, then the chain.
        type: str
        choices: [present, absent]
        default: present
  state:
    description: C(absent) removes the jumps, then the chain.
    type: str
    choices: [present, absent]
    default: present
  persist:
    description: Write the chain to C(/etc/wgsplit/iptables/) so that it is restored at boot.
    type: bool
    default: true
notes:
  - Requires C(iptables-save) and C(iptables-restore) (and their ip6tables twins for IPv6).
seealso:
  - module: wgsplit.gateway.ipset_set
  - module: wgsplit.gateway.policy_route
'''

EXAMPLES = r'''
- name: Classify new connections of one client, keep the mark on the connection
  wgsplit.gateway.mangle_mark:
    chain: WGSPLIT
    family: both
    rules:
      - comment: restore marks of established flows
        in_interface: wg0
        action: connmark_restore
        mask: 0xff0000
      - comment: alice proxy
        in_interface: wg0
        source: 10.8.0.2
        match_set: wgsplit-c1-p4
        ctstate: [NEW]
        action: mark
        mark: 0x10000
        mask: 0xff0000
      - in_interface: wg0
        ctstate: [NEW]
        action: connmark_save
        mask: 0xff0000

- name: Send clients' DNS to the gateway resolver
  wgsplit.gateway.mangle_mark:
    chain: WGSPLIT_DNS
    table: nat
    rules:
      - {in_interface: wg0, protocol: udp, destination_port: 53, action: redirect, to_ports: 53}
      - {in_interface: wg0, protocol: tcp, destination_port: 53, action: redirect, to_ports: 53}

- name: Remove the chain and its jump
  wgsplit.gateway.mangle_mark:
    chain: WGSPLIT
    family: both
    state: absent
'''

RETURN = r'''
rules:
  description: The chain's rules per family, as C(iptables-save) prints them.
  returned: always
  type: dict
  sample: {"inet": ["-A WGSPLIT -i wg0 -j CONNMARK --restore-mark --nfmask 0xff0000 --ctmask 0xff0000"]}
restore_input:
  description: The C(iptables-restore --noflush) input per family that the change applies (empty when none).
  returned: always
  type: dict
  sample: {"inet": "*mangle\n:WGSPLIT - [0:0]\n...\nCOMMIT\n"}
'''

from ansible_collections.wgsplit.gateway.plugins.module_utils.netstate import BulkModule
from ansible_collections.wgsplit.gateway.plugins.module_utils.chains import ARGUMENTS, MangleMark


def main():
    MangleMark(BulkModule(supports_check_mode=True, **ARGUMENTS)).run()


if __name__ == '__main__':
    main()
