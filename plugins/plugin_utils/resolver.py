# -*- coding: utf-8 -*-
# Copyright: (c) 2026, wgsplit.gateway developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The resolver's two files (dnsmasq configuration and systemd unit), rendered in Python, and what a run must
do about them given what split_info found: write only what differs, start only what is not running."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.wgsplit.gateway.plugins.module_utils.netstate import RESOLVER_CONFIG, RESOLVER_UNIT, UNIT_DIR
from ansible_collections.wgsplit.gateway.plugins.plugin_utils import rule_lists

MARKER = '# Written by wgsplit.gateway (role dnsmasq_split): the resolver of the split clients.'
UNIT_PATH = UNIT_DIR + '/' + RESOLVER_UNIT
CONFIG_MODE, CONFIG_DIR_MODE = '0600', '0700'

UNIT_TEXT = '''# Written by wgsplit.gateway (role dnsmasq_split): edits are overwritten.
[Unit]
Description=wgsplit.gateway resolver (fills the client ipsets)
# The sets must exist before dnsmasq names them.
After=network.target wgsplit-restore.service
Wants=wgsplit-restore.service

[Service]
ExecStartPre=/usr/sbin/dnsmasq --test --conf-file={config}
ExecStart=/usr/sbin/dnsmasq --keep-in-foreground --conf-file={config}
Restart=on-failure
RestartSec=2
# Sandbox: dnsmasq binds port 53, fills ipsets over netlink (CAP_NET_ADMIN) and drops to an unprivileged
# user after reading its configuration; it needs nothing else of the system.
CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_NET_ADMIN CAP_NET_RAW CAP_SETUID CAP_SETGID
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
SystemCallArchitectures=native

[Install]
WantedBy=multi-user.target
'''.format(config=RESOLVER_CONFIG)


def config_text(settings, lines, counts=None):
    """The dnsmasq configuration: fixed options from the settings, the size of each rule list file applied
    (comments: the next run's guard compares with them), then the plan's ipset= and server= lines."""
    text = [MARKER,
            '# It answers on the server interface only and puts the addresses of listed domains into the',
            '# client sets: one ipset= line per domain (dnsmasq uses only the first line that matches a name).',
            'port=53',
            'interface=%s' % settings['server_interface'],
            'except-interface=lo',
            '# Binds the interface\'s addresses as they come and go (a restart of the server interface), and',
            '# leaves every other address to other resolvers on the host.',
            'bind-dynamic',
            'no-resolv',
            'no-hosts',
            'pid-file=',
            'cache-size=%d' % settings['resolver_cache_size'],
            'max-ttl=%d' % settings['resolver_max_ttl'],
            'max-cache-ttl=%d' % settings['resolver_max_ttl']]
    text += ['server=%s' % server for server in settings['dns_servers']]
    text += rule_lists.count_lines(counts or {})
    return '\n'.join(text + lines) + '\n'


def written_by_us(config):
    """Whether a configuration in place carries the marker (or the first one the collection wrote, under
    '# Ansible managed')."""
    return 'wgsplit.gateway' in '\n'.join(config.splitlines()[:2])


def files(found, config):
    """The resolver part of the plan: where its files live, their texts and modes, and what differs from what
    split_info found (`found` is its `resolver`), so that a run that changes nothing runs no task for the
    resolver's files and service. `config` is None when the resolver is to be removed: then only whether its
    unit is to be stopped."""
    where = dict(config_path=RESOLVER_CONFIG, config_mode=CONFIG_MODE, config_dir_mode=CONFIG_DIR_MODE,
                 unit_path=UNIT_PATH, unit_name=RESOLVER_UNIT)
    if config is None:
        return dict(where, config=None, write_config=False, unit=None, write_unit=False, start=False,
                    stop=found.get('unit') is not None or bool(found.get('active')))
    write_config = (found.get('config') != config or found.get('config_mode') != CONFIG_MODE or
                    found.get('config_dir_mode') != CONFIG_DIR_MODE)
    write_unit = found.get('unit') != UNIT_TEXT
    return dict(where, config=config, write_config=write_config, unit=UNIT_TEXT, write_unit=write_unit,
                start=write_unit or not (found.get('enabled') and found.get('active')), stop=False)


def ancestors(domain):
    """The domain and every parent domain, most specific first."""
    labels = domain.split('.')
    return ['.'.join(labels[index:]) for index in range(len(labels))]


def stale_sets(old_config, new_lines):
    """Sets that the resolver in place fed from names the new lines no longer send them: they must be emptied,
    or addresses would keep a path their rules no longer give them. dnsmasq feeds a name's addresses to the
    sets of its most specific ipset= line, so for every domain of either configuration the sets its nearest
    line fed before are compared with those it feeds now: a domain removed, a set dropped from a line, and a
    more specific line added under a domain (its names left the parent's sets) all count."""
    def feeds(lines):
        result = {}
        for line in lines:
            if line.startswith('ipset=/'):
                domain, names = line.strip().split('/', 2)[1:]
                result[domain] = set(names.split(','))
        return result

    def nearest(fed, domain):
        return next((fed[name] for name in ancestors(domain) if name in fed), set())
    old, new = feeds((old_config or '').splitlines()), feeds(new_lines)
    stale = set()
    for domain in set(old) | set(new):
        stale |= nearest(old, domain) - nearest(new, domain)
    return sorted(stale)
