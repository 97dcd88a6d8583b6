#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, wgsplit.gateway developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: split_plan
short_description: Read the gateway, check the inventory, plan every object and find the calls out of step, in one task
version_added: 0.4.0
description:
  - Reads the host with M(wgsplit.gateway.split_info), checks the whole inventory and plans every object of the
    gateway on the controller (what the filter P(wgsplit.gateway.split_plan#filter) returns), then reads with
    M(wgsplit.gateway.split_pending) which of the plan's module calls would change the host. Changes nothing on the
    gateway but, outside check mode, the calls read kept for the next run (C(/run/wgsplit), root only).
  - M(wgsplit.gateway.split_info) also reads again the calls the last reading kept. A call planned exactly as one of
    those (name, module and arguments, keys included) takes its reasons from there; only the others are read by
    M(wgsplit.gateway.split_pending), and when there are none it does not run. A run that changes nothing then
    makes one module call on the host.
  - One task instead of three. The plan is not templated into a fact, and its calls are not templated into module
    arguments, which cost about a second per run with a hundred clients.
  - The result is the plan, with what was read (C(found)) and the reading of the calls (C(pending)). It holds the
    upstreams' keys (C(secrets)), so it is never shown. A failure of either read is shown, since it holds no key.
  - What the plan could not do as asked (a disabled upstream, a variable that is not the collection's, ...) is
    shown as warnings, as are the reads' own.
  - Role P(wgsplit.gateway.plan#role) runs it once per host into C(wgsplit_plan).
extends_documentation_fragment:
  - wgsplit.gateway.attributes.read_only
  - wgsplit.gateway.attributes
options:
  variables:
    description:
      - The inventory's C(wgsplit_*) variables, keyed without the C(wgsplit_) prefix (C(clients), C(upstreams),
        C(dns_servers), C(state), ...). docs/contract.md has every key.
      - When left out, the host's C(wgsplit_*) variables, but for the collection's own (C(wgsplit_plan),
        C(wgsplit_role), C(wgsplit_roles), C(wgsplit_status*), C(wgsplit_pending_*)); templated by the action itself,
        which with a hundred clients costs half of templating them as a task argument.
    type: dict
  server_interface:
    description: The WireGuard server interface the clients connect through (M(wgsplit.gateway.split_info)'s default when left out).
    type: str
  base_dir:
    description:
      - Where a rule list's relative C(file) is read from, on the controller (the role passes the inventory's
        directory). Without it, rule lists with a C(file) are refused.
    type: path
attributes:
  action:
    description: Runs on the controller, which executes M(wgsplit.gateway.split_info) and M(wgsplit.gateway.split_pending) on the host.
    support: full
  async:
    description: Not supported.
    support: none
notes:
  - The calls are not read when the plan has errors, when the plan makes none, or while a command the collection
    needs is missing (C(found.missing_packages)); C(pending) is then empty, and each role of the collection reads
    its own calls right before making them.
seealso:
  - module: wgsplit.gateway.split_info
  - module: wgsplit.gateway.split_pending
  - plugin: wgsplit.gateway.split_plan
    plugin_type: filter
'''

EXAMPLES = r'''
- name: Read the gateway and plan the play's wgsplit_* variables (the result holds the keys and is not shown)
  wgsplit.gateway.split_plan:
    base_dir: "{{ inventory_dir }}"
  register: plan

- name: Or plan variables given here
  wgsplit.gateway.split_plan:
    variables:
      upstreams: "{{ wgsplit_upstreams }}"
      clients: "{{ wgsplit_clients }}"
      dns_servers: [1.1.1.1]
    base_dir: "{{ inventory_dir }}"
  register: plan

- name: Refuse a bad inventory before any change
  ansible.builtin.assert:
    that: plan.errors | length == 0
    fail_msg: "{{ plan.errors }}"

- name: Upstream interfaces, only when they would change
  wgsplit.gateway.wg_upstream:
    upstreams: "{{ plan.secrets.wg_upstream }}"
  when: plan.pending.run['wg_upstream'] | default(true)
'''

RETURN = r'''
errors:
  description:
    - Every problem of the inventory, or of the host it is for. With a problem of the inventory itself, only C(state),
      C(errors), C(found) and C(pending) are set; with one of the host (port 53 held, a foreign wg-up-N, ...), the
      plan is there too.
  returned: when both reads succeed
  type: list
  elements: str
  sample: ["client 'alice' rule 1 (domain 'goo gle.com'): bad domain 'goo gle.com': holds whitespace or a control character (U+0020)"]
state:
  description: The inventory's C(state).
  returned: when both reads succeed
  type: str
  sample: present
found:
  description: What M(wgsplit.gateway.split_info) read (its result).
  returned: when both reads succeed
  type: dict
pending:
  description: What M(wgsplit.gateway.split_pending) read of the plan's calls (its C(run), C(pending), C(read_again)); empty when not read.
  returned: when both reads succeed
  type: dict
  sample: {"run": {"wg_upstream": false}, "pending": {}, "read_again": {"wg_upstream": false}}
work:
  description:
    - Per role of the collection, whether its tasks have anything to do on this run, from C(pending) and the plan (a
      call to make, its calls to read again since a role before it makes one, or other work; clients kept on the
      gateway, sets of removed clients, metrics files for C(split_client); stale sets, resolver files or the journal
      for C(dnsmasq_split)). True for every role with calls when they were not read, and for all when C(errors) is not
      empty.
    - In playbooks/site.yml, a role with nothing to do skips its tasks in one.
  returned: when both reads succeed
  type: dict
  sample: {"wg_upstream": false, "split_client": true, "dnsmasq_split": false}
calls:
  description: The module calls of the run per role, in their order (the rest of the plan is the filter's, see P(wgsplit.gateway.split_plan#filter)).
  returned: when errors is empty
  type: dict
secrets:
  description: The upstreams' keys, apart from the rest (C(wg_upstream), C(interface_keys)).
  returned: when errors is empty
  type: dict
'''
