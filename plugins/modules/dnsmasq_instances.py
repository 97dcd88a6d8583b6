#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, wgsplit.gateway developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: dnsmasq_instances
short_description: Manage a front dnsmasq and its back instances under systemd, changed make-before-break in one call
version_added: 0.4.0
description:
  - Makes a front resolver's service and the back instances it forwards to run with the configurations and units
    given, in the one order that never leaves the front asking an instance that is not there.
  - With C(state=present), in this order, only what differs from the host is done. Every configuration of
    I(configs) that differs is checked by C(/usr/sbin/dnsmasq --test) before any file is written (in check mode
    too, where dnsmasq is installed). A C(systemctl daemon-reload) systemd asks for (a unit changed on disk) is
    made first. I(journal) is written when one of I(configs) or I(units) differs; those that differ are written
    atomically (mode C(0600) in I(directory), owned by root with mode C(0700); units C(0644)). I(front) is enabled
    when it is not, followed by a C(daemon-reload) when a unit changed or I(front) was enabled. Each instance of
    I(backs) not linked is linked (see I(back_template)). The instances of I(backs) that do not run are started;
    then those that run are restarted when a file they read changed (see I(configs) and I(units)); then I(front)
    is restarted when a file it reads changed, or started when it does not run. Then, the front no longer asking
    them, the instances of I(retire) are stopped and unlinked and the files of I(remove) removed. Then the call
    fails unless I(front) and I(backs) run and I(retire) do not. Last, I(journal) is removed unless it is to be
    kept.
  - An instance of I(backs) whose own file in place changes (a number used again), running or not, changes meaning
    under the front. So that the front never asks it with the other one, before any file is written I(front) is
    stopped and disabled, then that instance stopped and its link removed; once the files are written I(front) is
    enabled again, and the instance started and linked before I(front) is started last. I(restart) (a run before
    stopped midway) also stops and disables I(front) first, and restarts every instance of I(backs) that runs. A
    run stopped between the two leaves the front stopped and not started at boot, so no name is answered, even
    after a reboot, until a run finishes (systemd still knows the old links until its next C(daemon-reload); only
    a C(systemctl isolate) would read them).
  - A file whose mode alone differs gets its mode, and nothing restarts for it.
  - Refused before any change, with a message, are a file to replace or remove without the marker, a masked unit of
    I(front) or I(backs), a symbolic link for I(directory), a file of I(configs), I(remove) or I(journal) outside
    I(directory), a unit name that is not a service's. A failure after a change reports what the call changed.
  - A back instance is expected to be bound to the front in no way (no C(PartOf=), C(BindsTo=) or
    C(StopPropagatedFrom=); C(Before=) it, and C(WantedBy=multi-user.target) in its template), so that the
    front's restart (an edit of where it sends names) leaves running the back instances whose files did not
    change, on every systemd version.
  - With C(state=absent), I(front) is disabled, the instances of I(backs) and I(retire) unlinked, those that run
    (restarting after a failure counts) are stopped, and the files the collection wrote (its marker C(wgsplit.gateway) in their first two lines) are
    removed from I(directory) and of I(units), with I(journal); the directory goes when nothing else is in it (a
    warning names what stays).
  - Ours by marker. A file of I(remove) without the marker is refused, and nothing changes.
extends_documentation_fragment:
  - wgsplit.gateway.attributes
attributes:
  diff_mode:
    description: Returns the files' texts and the services' states before and after in C(diff).
    support: full
options:
  state:
    description: Whether the resolvers run.
    type: str
    choices: [present, absent]
    default: present
  directory:
    description: The directory of the configurations, I(journal) and I(remove).
    type: path
    required: true
  configs:
    description:
      - Configurations to hold these texts, the back instances' before the front one's (the front names them).
        Others in I(directory) are left as they are.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: A file of I(directory).
        type: path
        required: true
      text:
        description: Its whole text.
        type: str
      restarts:
        description:
          - The services that read it (I(front), instances of I(backs)), restarted when it changes and they run.
          - Without it, I(front).
        type: list
        elements: str
  units:
    description: Systemd unit files (the front's, the back instances' template) to hold these texts.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: The unit file.
        type: path
        required: true
      text:
        description: Its whole text; not needed with C(state=absent).
        type: str
      restarts:
        description:
          - The services it defines (I(front), instances of I(backs)), restarted when it changes and they run.
          - An empty list for a change that systemd needs only to read again (C(daemon-reload)).
          - Without it, I(front).
        type: list
        elements: str
  front:
    description: The front resolver's service unit.
    type: str
    required: true
  backs:
    description: The back instances to run (C(NAME@N.service)).
    type: list
    elements: str
    default: []
  retire:
    description: Back instances to stop and disable once the front restarted (it no longer asks them).
    type: list
    elements: str
    default: []
  remove:
    description: Files of I(directory) to remove after I(retire) stopped (their configurations).
    type: list
    elements: path
    default: []
  journal:
    description:
      - A file of I(directory) written before any configuration (what the running resolvers serve), so that a run
        stopped midway is finished by the next one.
      - With C(state=absent), only its I(path) is needed; it is removed.
    type: dict
    suboptions:
      path:
        description: A file of I(directory).
        type: path
        required: true
      text:
        description: Its text.
        type: str
      keep:
        description:
          - Whether it stays after the call. The caller then removes it at the end of the run, once what still needs
            it is done (the collection's role empties the sets that lost a domain once more after the restart).
          - When false, it is removed (found or written) as the call's last step, once every service runs as wanted;
            a call that fails leaves it.
        type: bool
        default: true
  restart:
    description: Restart I(front) and I(backs) even when no file changed (a run before stopped midway).
    type: bool
    default: false
  back_template:
    description:
      - The template unit file of which I(backs) and I(retire) are instances (C(NAME@.service)); needed with them.
      - An instance is enabled at boot by its link to this file in C(multi-user.target.wants) beside it (what
        C(systemctl enable) makes of C(WantedBy=multi-user.target)). The call makes and removes these links itself
        and reads them from the disk by name, as systemd does at boot (whatever a link points to), so that systemd
        neither reloads nor flags its units as changed on disk. An entry of that name that is not a link is refused.
    type: path
notes:
  - Requires C(systemctl), and C(dnsmasq) when a configuration is written.
seealso:
  - module: wgsplit.gateway.split_info
'''

EXAMPLES = r'''
- name: One front resolver forwarding to back instance 2 (instance 1 is no longer asked)
  wgsplit.gateway.dnsmasq_instances:
    directory: /etc/wgsplit/resolver
    configs:
      - path: /etc/wgsplit/resolver/back-2.conf
        restarts: [wgsplit-resolver-back@2.service]
        text: |
          # Written by wgsplit.gateway (role dnsmasq_split): a back resolver, asked by the front one only.
          listen-address=127.53.0.2
          port=53
          bind-interfaces
          ipset=/#/wgs-alice-p4
      - path: /etc/wgsplit/resolver/dnsmasq.conf
        text: |
          # Written by wgsplit.gateway (role dnsmasq_split): the resolver of the split clients.
          interface=wg0
          server=/example.com/127.53.0.2
    units:
      - {path: /etc/systemd/system/wgsplit-resolver.service, text: "{{ front_unit }}"}
      - {path: /etc/systemd/system/wgsplit-resolver-back@.service, text: "{{ back_unit }}", restarts: [wgsplit-resolver-back@2.service]}
    front: wgsplit-resolver.service
    backs: [wgsplit-resolver-back@2.service]
    retire: [wgsplit-resolver-back@1.service]
    back_template: /etc/systemd/system/wgsplit-resolver-back@.service
    remove: [/etc/wgsplit/resolver/back-1.conf]

- name: Every resolver stopped, its files removed
  wgsplit.gateway.dnsmasq_instances:
    state: absent
    directory: /etc/wgsplit/resolver
    units:
      - path: /etc/systemd/system/wgsplit-resolver.service
      - path: /etc/systemd/system/wgsplit-resolver-back@.service
    front: wgsplit-resolver.service
    retire: [wgsplit-resolver-back@2.service]
    back_template: /etc/systemd/system/wgsplit-resolver-back@.service
'''

RETURN = r'''
written:
  description:
    - The files written (or that check mode would write), I(directory) first when it was made or its owner or mode
      set, then I(journal) when a file changes.
  returned: always
  type: list
  elements: str
  sample: [/etc/wgsplit/resolver/back-2.conf, /etc/wgsplit/resolver/dnsmasq.conf]
removed:
  description: The files (and I(directory) with C(state=absent)) removed, I(journal) last when it is not kept.
  returned: always
  type: list
  elements: str
  sample: [/etc/wgsplit/resolver/back-1.conf]
restarted:
  description: Whether I(front) was restarted (or stopped first and started last).
  returned: always
  type: bool
restarted_backs:
  description: The instances of I(backs) restarted before I(front) (a file they read changed, or I(restart)).
  returned: always
  type: list
  elements: str
  sample: []
reused:
  description:
    - The instances of I(backs) that ran while their own file changed (a number used again). Each was stopped, after
      I(front), before its file was written, and started before I(front), so that the front never asks it with the
      other meaning.
  returned: always
  type: list
  elements: str
  sample: []
started:
  description: The services started that did not run.
  returned: always
  type: list
  elements: str
  sample: [wgsplit-resolver-back@2.service]
stopped:
  description: The services stopped.
  returned: always
  type: list
  elements: str
  sample: [wgsplit-resolver-back@1.service]
enabled:
  description: The services enabled at boot (I(front), instances of I(backs) linked).
  returned: always
  type: list
  elements: str
  sample: [wgsplit-resolver-back@2.service]
disabled:
  description: The services disabled (instances of I(retire) unlinked; with C(state=absent), I(front) too).
  returned: always
  type: list
  elements: str
  sample: [wgsplit-resolver-back@1.service]
reloaded:
  description: Whether systemd read its units again (C(daemon-reload)).
  returned: always
  type: bool
'''

from ansible_collections.wgsplit.gateway.plugins.module_utils.netstate import BulkModule
from ansible_collections.wgsplit.gateway.plugins.module_utils.instances import ARGUMENTS, DnsmasqInstances


def main():
    DnsmasqInstances(BulkModule(supports_check_mode=True, **ARGUMENTS)).run()


if __name__ == '__main__':
    main()
