# -*- coding: utf-8 -*-
# Copyright: (c) 2026, wgsplit.gateway developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""WireGuard client interfaces towards upstreams: read, want, apply (module wg_upstream, split_pending)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import re
import shutil
import socket
import tempfile

from ansible_collections.wgsplit.gateway.plugins.module_utils import canonical
from ansible_collections.wgsplit.gateway.plugins.module_utils.netstate import (
    WIREGUARD_CONFIG_MARKER, StateModule, empty_list, owned_wireguard_config, kernel_prefix, list_delta, owned_table, read_text, write_file)

HIDDEN = '(hidden)'
TABLE_NUMBER = re.compile(r'[0-9]{1,10}')  # ASCII digits only (str.isdigit() takes other scripts' digits)
DEFAULT_CONFIG_DIR = '/etc/wireguard'
KEY_PARAMS = {'private_key': 'private_key', 'privatekey': 'private_key',
              'preshared_key': 'preshared_key', 'presharedkey': 'preshared_key'}
KEY_LINE = re.compile(r'^(\s*(PrivateKey|PresharedKey)\s*=\s*)(\S+)', re.MULTILINE | re.IGNORECASE)
FAMILIES = (('-4', 4), ('-6', 6))


def resolve_endpoint(endpoint, live_endpoint):
    """The endpoint (canonical) as `wg show dump` prints it: the live one when the host resolves to it."""
    host, port = canonical.endpoint(endpoint)
    try:
        addresses = [canonical.address(host)]
    except canonical.Invalid:
        try:
            addresses = [info[4][0] for info in socket.getaddrinfo(host, port, 0, socket.SOCK_DGRAM)]
        except socket.gaierror:
            return endpoint
    candidates = [canonical.format_endpoint(address, port) for address in addresses]
    return live_endpoint if live_endpoint in candidates else candidates[0]


def normalize_network(value):
    return canonical.network(value, strict=False)


def table_routes(allowed_ips):
    """The routes wg-quick adds to a numbered table, as 'version dst' like `ip -j route` shows them."""
    routes = []
    for allowed in allowed_ips:
        network, dst = kernel_prefix(allowed)
        routes.append('%d %s' % (network.version, dst))
    return sorted(routes)


def parse_dump(text):
    """`wg show NAME dump` -> (private_key, [peer dicts])."""
    lines = [line.split('\t') for line in text.splitlines() if line.strip()]
    if not lines:
        return None, []
    private_key = lines[0][0]
    peers = []
    for fields in lines[1:]:
        peers.append(dict(public_key=fields[0],
                          preshared_key=None if fields[1] == '(none)' else fields[1],
                          endpoint=None if fields[2] == '(none)' else fields[2],
                          allowed_ips=sorted(normalize_network(ip) for ip in fields[3].split(',') if ip != '(none)'),
                          persistent_keepalive=0 if fields[7] == 'off' else int(fields[7])))
    return (None if private_key == '(none)' else private_key), peers


def render_config(params):
    """The wg-quick configuration file."""
    lines = [WIREGUARD_CONFIG_MARKER, '[Interface]']
    lines += render_interface_keys(params)
    lines += ['Address = %s' % ', '.join(params['addresses']), 'MTU = %d' % params['mtu']]
    if params['table'] != 'auto':
        lines.append('Table = %s' % params['table'])
    if params['rp_filter'] is not None:
        lines.append('PostUp = echo %d > %s' % (params['rp_filter'], rp_filter_path('%i')))
    lines += [''] + render_peer(params)
    return '\n'.join(lines) + '\n'


def render_sync_config(params):
    """The `wg syncconf` form: keys and peer only."""
    return '\n'.join(['[Interface]'] + render_interface_keys(params) + [''] + render_peer(params)) + '\n'


def render_interface_keys(params):
    return ['PrivateKey = %s' % params['private_key']]


def render_peer(params):
    lines = ['[Peer]', 'PublicKey = %s' % params['public_key']]
    if params['preshared_key']:
        lines.append('PresharedKey = %s' % params['preshared_key'])
    lines += ['Endpoint = %s' % params['endpoint'], 'AllowedIPs = %s' % ', '.join(params['allowed_ips'])]
    if params['persistent_keepalive']:
        lines.append('PersistentKeepalive = %d' % params['persistent_keepalive'])
    return lines


def rp_filter_path(interface):
    return '/proc/sys/net/ipv4/conf/%s/rp_filter' % interface


def config_table(text):
    """The Table = value of a wg-quick configuration ('auto' when it has none)."""
    match = re.search(r'^\s*Table\s*=\s*(\S+)', text or '', re.MULTILINE | re.IGNORECASE)
    return match.group(1) if match else 'auto'


class Upstream(object):
    """One interface, read -> want -> apply as netstate.StateModule runs them; WgUpstream runs one or many."""

    def __init__(self, module, commands, params, warnings):
        self.module = module
        self.cmd = commands
        self.params = params
        self.warnings = warnings
        self.name = params['name']
        self.config_path = os.path.join(params['config_dir'], '%s.conf' % self.name)
        self.unit = 'wg-quick@%s.service' % self.name
        self.systemd_running = os.path.isdir('/run/systemd/system')
        self.actions = []

    def read(self):
        return dict(config=read_text(self.config_path), boot=self.boot_enabled(), interface=self.read_interface())

    def boot_enabled(self):
        if self.module.get_bin_path('systemctl') is None:
            return None
        return self.cmd.run(['systemctl', 'is-enabled', '--quiet', self.unit], check=False)[0] == 0

    def read_interface(self):
        # ip addr shows the link's flags and MTU too: one command, not two.
        links = self.cmd.json(['ip', '-j', 'addr', 'show', 'dev', self.name], missing='does not exist')
        if not links:
            return None
        rc, out, err = self.cmd.run(['wg', 'show', self.name, 'dump'], check=False)
        private_key, peers = parse_dump(out) if rc == 0 else (None, [])
        addresses = ['%s/%s' % (info['local'], info['prefixlen']) for info in links[0].get('addr_info', [])
                     if info.get('scope') != 'link']
        return dict(wireguard=rc == 0, up='UP' in links[0].get('flags', []), mtu=links[0].get('mtu'),
                    private_key=private_key, peers=peers, addresses=sorted(addresses), routes=self.read_routes(),
                    rp_filter=self.read_rp_filter())

    def read_rp_filter(self):
        if self.params['rp_filter'] is None:
            return None
        text = read_text(rp_filter_path(self.name))
        return int(text) if text else None

    def read_routes(self):
        table = self.params['table']
        if not TABLE_NUMBER.fullmatch(table):
            return None
        routes = []
        for flag, version in FAMILIES:
            for entry in self.cmd.json(['ip', flag, '-j', 'route', 'show', 'table', table, 'dev', self.name],
                                       missing='does not exist'):
                routes.append('%d %s' % (version, entry['dst']))
        return sorted(routes)

    def want(self, current):
        foreign = current['config'] is not None and not owned_wireguard_config(current['config'])
        foreign = foreign or (current['config'] is None and current['interface'] is not None)
        if self.params['state'] == 'absent':
            if foreign:
                # Ours by marker: an interface or configuration of this name that the collection did not write stays.
                self.warnings.append('%s was not made by wgsplit.gateway (no configuration with its marker): left alone'
                                     % self.name)
                return current
            return dict(config=None, boot=None if current['boot'] is None else False, interface=None)
        if foreign:
            self.module.fail_json(msg='%s exists and was not made by wgsplit.gateway (%s has no marker line): move it'
                                      ' away or use another name' % (self.name, self.config_path))
        self.normalize()
        live = current['interface']
        live_peers = live['peers'] if live else []
        live_endpoint = live_peers[0]['endpoint'] if len(live_peers) == 1 else None
        peer = dict(public_key=self.params['public_key'], preshared_key=self.params['preshared_key'],
                    endpoint=resolve_endpoint(self.params['endpoint'], live_endpoint),
                    allowed_ips=sorted(self.params['allowed_ips']),
                    persistent_keepalive=self.params['persistent_keepalive'])
        interface = dict(wireguard=True, up=True, mtu=self.params['mtu'], private_key=self.params['private_key'],
                         peers=[peer], addresses=sorted(self.params['addresses']),
                         routes=table_routes(self.params['allowed_ips']) if TABLE_NUMBER.fullmatch(self.params['table']) else None,
                         rp_filter=self.params['rp_filter'])
        boot = None if current['boot'] is None else self.params['enabled']
        return dict(config=render_config(self.params), boot=boot, interface=interface)

    def normalize(self):
        """Every parameter that reaches the configuration file or a command, in its canonical form (defence in
        depth: the roles pass canonical values already, other callers may not)."""
        params = self.params
        for key in ('private_key', 'public_key', 'endpoint', 'addresses'):
            if not params[key]:
                self.module.fail_json(msg='%s is required with state=present (interface %s)' % (key, self.name))
        if params['enabled'] and params['config_dir'] != DEFAULT_CONFIG_DIR:
            self.module.fail_json(msg='enabled=true needs config_dir %s, the only place wg-quick@%s.service reads'
                                      ' (interface %s)' % (DEFAULT_CONFIG_DIR, self.name, self.name))
        table = params['table']
        if table not in ('off', 'auto') and not (TABLE_NUMBER.fullmatch(table) and owned_table(int(table))):
            self.module.fail_json(msg='table %r of interface %s must be off, auto or a table number other than 253-255'
                                      % (table, self.name))
        for key in ('private_key', 'public_key', 'preshared_key'):
            if params[key]:
                try:
                    params[key] = canonical.wireguard_key(params[key])
                    # Another spelling of the same key (unused low bits of the last character) is masked too.
                    if key != 'public_key':
                        self.module.no_log_values.add(params[key])
                except ValueError:
                    self.module.fail_json(msg='interface %s: %s is not a WireGuard key (44 characters of base64)'
                                              % (self.name, key))
        params['preshared_key'] = params['preshared_key'] or None
        params['endpoint'] = self.canonical('endpoint', params['endpoint'],
                                            lambda value: canonical.format_endpoint(*canonical.endpoint(value)))
        params['allowed_ips'] = [self.canonical('allowed_ips', value, normalize_network) for value in params['allowed_ips']]
        params['addresses'] = [self.canonical('addresses', value, canonical.interface_address)
                               for value in params['addresses']]
        lowest_mtu = 1280 if any(':' in address for address in params['addresses']) else 576
        if not lowest_mtu <= params['mtu'] <= 65535:
            self.module.fail_json(msg='mtu %d of interface %s is out of range (%d to 65535)'
                                      % (params['mtu'], self.name, lowest_mtu))

    def canonical(self, key, value, parse):
        try:
            return parse(value)
        except ValueError as error:
            self.module.fail_json(msg='interface %s: %s %r: %s' % (self.name, key, value, error))

    def apply(self, current, wanted):
        if wanted['config'] is None:
            self.take_down(current)
            if current['config'] is not None:
                self.act('remove %s' % self.config_path)
                os.unlink(self.config_path)
            return
        restart = (current['interface'] is not None and current['config'] is not None
                   and config_table(current['config']) != config_table(wanted['config']))
        if current['config'] != wanted['config']:
            self.check_config(wanted['config'])
        if restart:
            self.take_down(current)
        if write_file(self.module, self.config_path, wanted['config'], 0o600):
            self.act('write %s' % self.config_path)
        live = None if restart else current['interface']
        if live is None or not live['up'] or not live['wireguard']:
            if live is not None:
                self.take_down(current)
            self.bring_up()
        else:
            self.update_in_place(live, wanted['interface'])

    def check_config(self, text):
        """wg-quick parses the new configuration before it replaces the one the boot unit reads."""
        directory = tempfile.mkdtemp(prefix='wgsplit-')
        try:
            path = os.path.join(directory, '%s.conf' % self.name)
            write_file(self.module, path, text, 0o600)
            rc, out, err = self.cmd.run(['wg-quick', 'strip', path], check=False)
        finally:
            shutil.rmtree(directory)
        if rc != 0:
            self.module.fail_json(msg='the configuration of %s does not parse (wg-quick strip): %s'
                                      % (self.name, err.strip()))

    def take_down(self, current):
        if self.systemd_running and current['boot'] is not None:
            self.cmd.run(['systemctl', 'stop', self.unit], check=False)
        if self.cmd.json(['ip', '-j', 'link', 'show', 'dev', self.name], missing='does not exist'):
            self.act('delete interface %s' % self.name)
            self.cmd.run(['ip', 'link', 'delete', 'dev', self.name])

    def bring_up(self):
        self.act('bring up %s' % self.name)
        if self.systemd_running and self.params['enabled']:
            # restart, not start: a unit whose interface was deleted by hand is still 'active'.
            self.cmd.run(['systemctl', 'restart', self.unit])
        else:
            self.cmd.run(['wg-quick', 'up', self.config_path])

    def update_in_place(self, live, wanted):
        if live['private_key'] != wanted['private_key'] or live['peers'] != wanted['peers']:
            self.act('wg syncconf %s (peer or key changed)' % self.name)
            self.cmd.run(['wg', 'syncconf', self.name, '/dev/stdin'], data=render_sync_config(self.params))
        missing, extra = list_delta(live['addresses'], wanted['addresses'])
        for address in missing:
            self.act('add address %s' % address)
            self.cmd.run(['ip', 'address', 'add', address, 'dev', self.name])
        for address in extra:
            self.act('delete address %s' % address)
            self.cmd.run(['ip', 'address', 'delete', address, 'dev', self.name])
        if live['mtu'] != wanted['mtu']:
            self.act('set mtu %d' % wanted['mtu'])
            self.cmd.run(['ip', 'link', 'set', 'dev', self.name, 'mtu', wanted['mtu']])
        if live['rp_filter'] != wanted['rp_filter']:
            self.act('set rp_filter %d' % wanted['rp_filter'])
            with open(rp_filter_path(self.name), 'w') as proc_file:
                proc_file.write('%d\n' % wanted['rp_filter'])
        if wanted['routes'] is not None:
            missing, extra = list_delta(live['routes'] or [], wanted['routes'])
            for route, verb in [(route, 'replace') for route in missing] + [(route, 'delete') for route in extra]:
                version, dst = route.split(' ', 1)
                self.act('%s route %s in table %s' % (verb, dst, self.params['table']))
                self.cmd.run(['ip', '-' + version, 'route', verb, dst, 'dev', self.name, 'table', self.params['table']])

    def boot_verb(self, current, wanted):
        """The systemctl verb that changes the unit's boot state (WgUpstream makes one call per verb), or None."""
        if current is None or current == wanted:
            return None
        verb = 'enable' if wanted else 'disable'
        self.act('%s %s' % (verb, self.unit))
        return verb

    def act(self, action):
        self.actions.append(action)

    def describe(self, state):
        """The state with every key replaced by a marker that only says whether it matches the one given."""
        interface = state['interface']
        if interface is not None:
            interface = dict(interface, private_key=self.hide(interface['private_key'], 'private_key'),
                             peers=[dict(peer, preshared_key=self.hide(peer['preshared_key'], 'preshared_key'))
                                    for peer in interface['peers']])
        config = state['config']
        if config is not None:
            config = KEY_LINE.sub(lambda match: match.group(1) + self.hide(match.group(3), match.group(2)), config)
        return dict(config=config, boot_enabled=state['boot'], interface=interface)

    def hide(self, key, field):
        """A marker for a key (named by parameter or config field) that says only whether it matches."""
        if not key:
            return None
        param = KEY_PARAMS[field.lower()]
        return HIDDEN if key == self.params[param] else HIDDEN + ', differs from the one given'

    def report(self, current, wanted):
        result = dict(config_path=self.config_path, actions=self.actions or self.planned_actions(current, wanted))
        if wanted['config'] is not None:
            result['public_key'] = self.cmd.run(['wg', 'pubkey'], data=self.params['private_key'])[1].strip()
        return result

    def planned_actions(self, current, wanted):
        """In check mode (or when nothing changed), a summary of what differs."""
        return ['change %s' % key for key in ('config', 'boot', 'interface') if current[key] != wanted[key]]


class WgUpstream(StateModule):
    """State is {interface name: its state} over the interfaces given (I(name) or I(upstreams))."""

    def __init__(self, module):
        super(WgUpstream, self).__init__(module)
        single = self.params['upstreams'] is None
        specs = [self.params] if single else [dict(spec, config_dir=self.params['config_dir'])
                                              for spec in self.params['upstreams']]
        self.single = single
        self.upstreams = [Upstream(module, self.cmd, spec, self.warnings) for spec in specs]

    def check(self):
        """Interface names valid and unique; no control character in anything but the keys (checked, without
        echo, where they are normalized)."""
        if self.params['upstreams'] == []:
            self.module.fail_json(msg=empty_list('upstreams'))
        seen = set()
        for upstream in self.upstreams:
            spec = upstream.params
            try:
                canonical.interface_name(spec['name'])
            except ValueError as error:
                self.module.fail_json(msg='name %r: %s' % (spec['name'], error))
            if spec['name'] in seen:
                self.module.fail_json(msg='interface %s is given twice' % spec['name'])
            seen.add(spec['name'])
            try:
                canonical.safe_strings(dict((key, value) for key, value in spec.items() if key not in KEY_PARAMS))
            except ValueError as error:
                self.module.fail_json(msg='interface %s: %s' % (spec['name'], error))

    def read(self):
        return dict((upstream.name, upstream.read()) for upstream in self.upstreams)

    def want(self, current):
        return dict((upstream.name, upstream.want(current[upstream.name])) for upstream in self.upstreams)

    def apply(self, current, wanted):
        changing = [upstream for upstream in self.upstreams if current[upstream.name] != wanted[upstream.name]]
        # Boot states first, one call per verb (each systemctl enable or disable reloads the manager, a tenth of a
        # second apiece): an interface failing later leaves none of them unset. A unit enabled before its file is
        # written starts nothing at boot, and its table's unreachable default refuses what it would carry.
        verbs = dict((upstream.name, upstream.boot_verb(current[upstream.name]['boot'], wanted[upstream.name]['boot']))
                     for upstream in changing)
        for verb in ('enable', 'disable'):
            units = [upstream.unit for upstream in changing if verbs[upstream.name] == verb]
            if units:
                self.cmd.run(['systemctl', verb] + units)
        for upstream in changing:
            upstream.apply(current[upstream.name], wanted[upstream.name])

    def reached(self, state, wanted):
        """What an interface wants is computed again from what it reached: a host name endpoint may resolve to
        another of its addresses for wg than it did for the plan (round-robin DNS)."""
        return all(state[upstream.name] == upstream.want(state[upstream.name]) for upstream in self.upstreams)

    def describe(self, state):
        described = dict((upstream.name, upstream.describe(state[upstream.name])) for upstream in self.upstreams)
        return described[self.upstreams[0].name] if self.single else described

    def report(self, current, wanted):
        reports = dict((upstream.name, upstream.report(current[upstream.name], wanted[upstream.name]))
                       for upstream in self.upstreams)
        return reports[self.upstreams[0].name] if self.single else dict(interfaces=reports)


UPSTREAM_SPEC = dict(
    name=dict(type='str', required=True),
    private_key=dict(type='str', no_log=True),
    public_key=dict(type='str'),
    preshared_key=dict(type='str', no_log=True),
    endpoint=dict(type='str'),
    allowed_ips=dict(type='list', elements='str', default=['0.0.0.0/0']),
    addresses=dict(type='list', elements='str'),
    persistent_keepalive=dict(type='int', default=25),
    mtu=dict(type='int', default=1420),
    table=dict(type='str', default='off'),
    rp_filter=dict(type='int', choices=[0, 1, 2]),
    enabled=dict(type='bool', default=True),
    state=dict(type='str', default='present', choices=['present', 'absent']),
)
# The options that are keys (hidden from logs): what the plan keeps apart and split_pending takes apart.
KEY_OPTIONS = tuple(name for name, option in UPSTREAM_SPEC.items() if option.get('no_log'))
# The module's arguments (AnsibleModule keywords), also checked by split_pending for each call it reads.
ARGUMENTS = dict(
    argument_spec=dict(UPSTREAM_SPEC, name=dict(type='str'), upstreams=dict(type='list', elements='dict', options=UPSTREAM_SPEC),
                       config_dir=dict(type='path', default=DEFAULT_CONFIG_DIR)),
    mutually_exclusive=[('name', 'upstreams')],
    required_one_of=[('name', 'upstreams')],
)
