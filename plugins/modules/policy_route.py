#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, wgsplit.gateway developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: policy_route
short_description: Manage the ip rules that look up one routing table, and that table's routes
version_added: 0.1.0
description:
  - Manages, for one routing table and one address family, the C(ip rule) entries that look the table
    up (by fwmark with mask, source, destination, incoming or outgoing interface, priority, inverted) and
    the routes in the table (for example a kill-switch C(unreachable default metric 4000)).
  - Ours by marker, not by table alone; every rule and route it writes carries the routing protocol
    I(protocol), and only rules and routes carrying it are read, compared and removed. Rules other
    software put into the same table, and routes others add to it (wg-quick's C(Table=) routes), are
    left alone.
  - State is read from C(ip -j rule) and C(ip -j route); the change is one C(ip -batch) run that adds
    before it deletes, so lookups never fall through while it runs.
  - With the exclusive options the table's rules and routes (those carrying I(protocol)) become exactly
    the lists given; rules of other tables and other tables' routes are never touched. The main, local
    and default tables cannot be managed.
  - With I(persist=true) the rules and routes are written to C(/etc/wgsplit/route/), which
    C(wgsplit-restore.service) loads at boot. Routes through a device that is not up at boot are
    restored by whatever brings the device up (for WireGuard upstreams, wg-quick's C(Table=)).
extends_documentation_fragment:
  - wgsplit.gateway.attributes
options:
  table:
    description:
      - The routing table number (1 to 4294967295, not 253, 254 or 255).
      - One of I(table) and I(tables) is required.
    type: int
  family:
    description: Address family of the rules and routes.
    type: str
    choices: [inet, inet6]
    default: inet
  protocol:
    description:
      - The routing protocol number (C(proto) of C(ip rule) and C(ip route)) that marks the rules and routes
        this module owns. The default, 233, is the collection's own and free in iproute2's C(rt_protos).
    type: int
    default: 233
  rules:
    description: Rules that look up I(table).
    type: list
    elements: dict
    default: []
    suboptions: &rule_options
      priority:
        description: Rule priority (preference); lower runs first.
        type: int
        required: true
      fwmark:
        description: Match packets whose mark under I(fwmask) equals this value.
        type: int
      fwmask:
        description: Mask for I(fwmark).
        type: int
        default: 0xffffffff
      from:
        description: Source address or network, or C(all).
        type: str
        default: all
      to:
        description: Destination address or network.
        type: str
      iif:
        description: Incoming interface.
        type: str
      oif:
        description: Outgoing interface.
        type: str
      invert:
        description: Match every packet the selectors do NOT match (C(ip rule not ...)).
        type: bool
        default: false
  routes:
    description: Routes of I(table).
    type: list
    elements: dict
    default: []
    suboptions: &route_options
      to:
        description: Destination network or C(default).
        type: str
        default: default
      type:
        description: Route type.
        type: str
        choices: [unicast, unreachable, blackhole, prohibit, throw]
        default: unicast
      dev:
        description: Output device (unicast routes).
        type: str
      via:
        description: Next hop (unicast routes).
        type: str
      metric:
        description: Route metric. The kernel's default when omitted (0 for IPv4, 1024 for IPv6).
        type: int
  tables:
    description:
      - Many tables in one call; each takes I(table), I(family), I(rules), I(routes) and I(state) as for one
        table, exclusively (its rules and routes carrying I(protocol) become exactly those given).
      - The rules of each family are read once and every change of a family is one C(ip -batch).
    type: list
    elements: dict
    suboptions:
      table:
        description: The routing table number.
        type: int
        required: true
      family:
        description: Address family of its rules and routes.
        type: str
        choices: [inet, inet6]
        default: inet
      rules:
        description: Rules that look up the table.
        type: list
        elements: dict
        default: []
        suboptions: *rule_options
      routes:
        description: Routes of the table.
        type: list
        elements: dict
        default: []
        suboptions: *route_options
      state:
        description: C(absent) deletes every rule that looks up the table and every route in it that carry I(protocol).
        type: str
        choices: [present, absent]
        default: present
  exclusive_rules:
    description: Delete rules that look up I(table), carry I(protocol) and are not in I(rules).
    type: bool
    default: true
  exclusive_routes:
    description:
      - Delete routes of I(table) that carry I(protocol) and are not in I(routes). Routes of other protocols
        (wg-quick's C(Table=) routes, for example) are never deleted.
    type: bool
    default: true
  state:
    description:
      - C(absent) deletes the rules and routes given; with the exclusive options, every rule that looks
        up I(table) and every route in it that carry I(protocol).
    type: str
    choices: [present, absent]
    default: present
  persist:
    description: Write the rules and routes to C(/etc/wgsplit/route/) so that they are restored at boot.
    type: bool
    default: true
notes:
  - Requires iproute2 with JSON output (C(ip -j)) on the managed host.
seealso:
  - module: wgsplit.gateway.mangle_mark
  - module: wgsplit.gateway.wg_upstream
'''

EXAMPLES = r'''
- name: Marked traffic looks up table 1001; nothing leaks when wg-up-1 is down
  wgsplit.gateway.policy_route:
    table: 1001
    rules:
      - {priority: 10001, fwmark: 0x10000, fwmask: 0xff0000}
    routes:
      - {type: unreachable, to: default, metric: 4000}

- name: Packets of wg0 whose mark holds bit 0x800000 that no rule above took are refused by table 1000
  wgsplit.gateway.policy_route:
    table: 1000
    rules:
      - {priority: 10002, iif: wg0, fwmark: 0x800000, fwmask: 0x800000}
    routes:
      - {type: unreachable, to: default, metric: 4000}

- name: The same for IPv6
  wgsplit.gateway.policy_route:
    table: 1001
    family: inet6
    rules:
      - {priority: 10001, fwmark: 0x10000, fwmask: 0xff0000}
    routes:
      - {type: unreachable, to: default, metric: 4000}

- name: Remove every rule that looks up table 1001 and every route in it
  wgsplit.gateway.policy_route:
    table: 1001
    state: absent
'''

RETURN = r'''
rules:
  description: The rules that look up the table afterwards, as C(ip rule) arguments.
  returned: always
  type: list
  elements: str
  sample: ["priority 10001 from all fwmark 0x10000/0xff0000 lookup 1001 protocol 233"]
routes:
  description: The routes of the table afterwards, as C(ip route) arguments.
  returned: always
  type: list
  elements: str
  sample: ["unreachable default metric 4000 proto 233"]
batch:
  description:
    - The C(ip -batch) lines the change applies; with I(tables), per family (C(inet), C(inet6)).
  returned: always
  type: raw
  sample: ["rule add priority 10001 from all fwmark 0x10000/0xff0000 lookup 1001 protocol 233"]
tables:
  description: With I(tables), the rules and routes of each table afterwards, by C(TABLE FAMILY).
  returned: when I(tables) is given
  type: dict
  sample: {"1001 inet": {"rules": ["priority 10001 from all fwmark 0x10000/0xff0000 lookup 1001 protocol 233"],
                         "routes": ["unreachable default metric 4000"]}}
'''

from ansible_collections.wgsplit.gateway.plugins.module_utils.netstate import BulkModule
from ansible_collections.wgsplit.gateway.plugins.module_utils.routing import ARGUMENTS, PolicyRoute


def main():
    PolicyRoute(BulkModule(supports_check_mode=True, **ARGUMENTS)).run()


if __name__ == '__main__':
    main()
