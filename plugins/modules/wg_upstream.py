#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, wgsplit.gateway developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: wg_upstream
short_description: One WireGuard client interface towards an upstream server, persistent and live
version_added: 0.1.0
description:
  - Writes a wg-quick configuration (mode 0600) for one interface with one peer, enables its boot unit
    (C(wg-quick@NAME)), and makes the running interface match it.
  - The live interface is read from C(wg show NAME dump), C(ip -j link) and C(ip -j addr). Keys and
    peers are changed in place with C(wg syncconf), addresses and MTU with C(ip), so a change of peer,
    key or endpoint never tears the interface down. A missing or downed interface is brought up again.
  - Where the kernel has no WireGuard module, wg-quick brings the interface up with the userspace
    implementation (C(wireguard-go)).
  - With I(table) set to a number, wg-quick puts the routes of I(allowed_ips) into that table only (and
    back each time the interface comes up) instead of taking over the default route.
  - Keys are never printed, logged or written to a world-readable file.
extends_documentation_fragment:
  - wgsplit.gateway.attributes
options:
  name:
    description:
      - The interface name (at most 15 characters), for example C(wg-up-1).
      - One of I(name) and I(upstreams) is required.
    type: str
  upstreams:
    description:
      - Many interfaces in one call, each with the options of one interface (I(name) required); I(config_dir)
        applies to all. Each interface's change is still the smallest (peers and keys in place, live flows kept).
    type: list
    elements: dict
    suboptions:
      name: {description: The interface name., type: str, required: true}
      private_key: {description: As I(private_key)., type: str}
      public_key: {description: As I(public_key)., type: str}
      preshared_key: {description: As I(preshared_key)., type: str}
      endpoint: {description: As I(endpoint)., type: str}
      allowed_ips: {description: As I(allowed_ips)., type: list, elements: str, default: [0.0.0.0/0]}
      addresses: {description: As I(addresses)., type: list, elements: str}
      persistent_keepalive: {description: As I(persistent_keepalive)., type: int, default: 25}
      mtu: {description: As I(mtu)., type: int, default: 1420}
      table: {description: As I(table)., type: str, default: 'off'}
      rp_filter: {description: As I(rp_filter)., type: int, choices: [0, 1, 2]}
      enabled: {description: As I(enabled)., type: bool, default: true}
      state: {description: As I(state)., type: str, choices: [present, absent], default: present}
  private_key:
    description: This gateway's private key for the upstream (base64). Required with I(state=present).
    type: str
  public_key:
    description: The upstream server's public key (base64). Required with I(state=present).
    type: str
  preshared_key:
    description: Optional preshared key (base64).
    type: str
  endpoint:
    description: The upstream server as C(host:port) (C([v6]:port) for IPv6 literals). Required with I(state=present).
    type: str
  allowed_ips:
    description: Networks routed to the upstream.
    type: list
    elements: str
    default: [0.0.0.0/0]
  addresses:
    description: The tunnel address(es) the upstream assigned to this gateway. Required with I(state=present).
    type: list
    elements: str
  persistent_keepalive:
    description: Keepalive interval in seconds; C(0) turns it off.
    type: int
    default: 25
  mtu:
    description: Interface MTU.
    type: int
    default: 1420
  table:
    description:
      - Where wg-quick puts the routes of I(allowed_ips). C(off) adds none, a number adds them to that
        routing table only, C(auto) lets wg-quick take over the default route (rarely wanted on a gateway).
    type: str
    default: 'off'
  rp_filter:
    description:
      - Reverse-path filter mode of the interface (C(2) is loose). Replies from the far end arrive on this
        interface although the main table routes their source elsewhere, so strict mode (1) drops them.
      - Set now and, through a C(PostUp) line of the configuration, each time the interface comes up.
        Left alone when omitted.
    type: int
    choices: [0, 1, 2]
  config_dir:
    description:
      - Directory of wg-quick configurations. Another directory than the default needs I(enabled=false),
        since C(wg-quick@NAME.service) reads only C(/etc/wireguard).
    type: path
    default: /etc/wireguard
  enabled:
    description: Enable C(wg-quick@NAME.service) so the interface comes up at boot.
    type: bool
    default: true
  state:
    description: C(absent) takes the interface down and removes its configuration and boot unit.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Requires wireguard-tools (C(wg), C(wg-quick)) and iproute2 on the managed host, and either the
    WireGuard kernel module or C(wireguard-go) with C(/dev/net/tun).
seealso:
  - module: wgsplit.gateway.policy_route
'''

EXAMPLES = r'''
- name: Tunnel to the US upstream; its routes go to table 1001 only
  wgsplit.gateway.wg_upstream:
    name: wg-up-1
    private_key: "{{ vault_wgsplit_us_private_key }}"
    public_key: hIbd4T4XT0vvvsWF0jBG4hj2SfxwB0anzhqEz0V5ZWU=
    endpoint: us.example.com:51820
    addresses: [10.10.0.2/32]
    table: "1001"
  register: us_tunnel

- name: Tell the upstream's admin which key to allow
  ansible.builtin.debug:
    msg: "{{ us_tunnel.public_key }}"

- name: Remove the tunnel
  wgsplit.gateway.wg_upstream:
    name: wg-up-1
    state: absent
'''

RETURN = r'''
public_key:
  description: This gateway's public key for the upstream (derived from I(private_key)).
  returned: when state is present and I(name) is given
  type: str
  sample: dVQduTAG3NZYOqM7nJdQcZtKCLrK+MIHHXTdB+SXmmk=
config_path:
  description: The wg-quick configuration file.
  returned: when I(name) is given
  type: str
  sample: /etc/wireguard/wg-up-1.conf
interfaces:
  description: With I(upstreams), the other return values of each interface, by name.
  returned: when I(upstreams) is given
  type: dict
  sample: {"wg-up-1": {"config_path": "/etc/wireguard/wg-up-1.conf", "actions": []}}
actions:
  description: What was done (or would be, in check mode), without secrets.
  returned: when I(name) is given
  type: list
  elements: str
  sample: ["write /etc/wireguard/wg-up-1.conf", "wg syncconf wg-up-1 (peer or key changed)"]
'''

from ansible_collections.wgsplit.gateway.plugins.module_utils.netstate import BulkModule
from ansible_collections.wgsplit.gateway.plugins.module_utils.upstreams import ARGUMENTS, WgUpstream


def main():
    WgUpstream(BulkModule(supports_check_mode=True, **ARGUMENTS)).run()


if __name__ == '__main__':
    main()
