# -*- coding: utf-8 -*-
# Copyright: (c) 2026, wgsplit.gateway developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a gateway is doing, read from the kernel: the upstream tunnels (up, latest handshake, bytes), what each
split client sent and received through its upstream and direct (the counters of the accounting sets), how full
the sets are, whether the resolver runs.

split_info and the status filter use the parsers and rules here. The same file is the metrics exporter:
role split_client copies it to the host (/etc/wgsplit/metrics/exporter), where wgsplit-metrics.timer runs it
to write Prometheus metrics for node_exporter's textfile collector. So it needs nothing but the standard
library."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import subprocess
import sys
import time

# WireGuard renews a session every two minutes while packets flow (persistent keepalive makes them flow); when
# the far end renews it, up to 180 s plus a keepalive interval pass. Older than that (and a margin for the
# clocks): the upstream does not answer.
HANDSHAKE_MAX_AGE = 180
HANDSHAKE_MARGIN = 20
DIRECTIONS = ('sent', 'received')
PATHS = ('upstream', 'direct')
C_LOCALE = {'LANG': 'C', 'LC_ALL': 'C'}


# Parsers: text in, plain values out -------------------------------------------------------------

def peer_counters(text, now):
    """Of `wg show NAME dump` with one peer (an upstream): its latest handshake (epoch seconds, None when
    never), the age of it at `now`, and the bytes received and sent."""
    lines = text.splitlines()[1:2]
    fields = lines[0].split('\t') if lines else []
    if len(fields) < 7 or not all(field.isdigit() for field in fields[4:7]):
        return {}
    handshake = int(fields[4]) or None
    return dict(latest_handshake=handshake, handshake_age=None if handshake is None else max(now - handshake, 0),
                rx_bytes=int(fields[5]), tx_bytes=int(fields[6]))


def parse_set_headers(text):
    """{set name: {'entries': N, 'references': N, 'counters': whether its members count}} of `ipset list -t`."""
    sets, name = {}, None
    for line in text.splitlines():
        if line.startswith('Name:'):
            name = line.split(':', 1)[1].strip()
            sets[name] = dict(entries=0, references=0, counters=False)
        elif name is None:
            continue
        elif line.startswith('Number of entries:'):
            sets[name]['entries'] = int(line.split(':', 1)[1])
        elif line.startswith('References:'):
            sets[name]['references'] = int(line.split(':', 1)[1])
        elif line.startswith('Header:'):
            sets[name]['counters'] = 'counters' in line.split()
    return sets


def parse_counters(text):
    """{member: bytes} of `ipset save NAME` for a set with counters."""
    return dict(item for counts in parse_all_counters(text).values() for item in counts.items())


def parse_all_counters(text):
    """{set: {member: bytes}} of `ipset save` of several sets (those with counters)."""
    counts = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 3 and words[0] == 'add':
            options = dict(zip(words[3::2], words[4::2]))
            if options.get('bytes', '').isdigit():
                counts.setdefault(words[1], {})[words[2]] = int(options['bytes'])
    return counts


def nft_elements(set_object):
    """(address, interface or None, bytes or None) of each element of a set of `nft -j list` output."""
    found = []
    for value in set_object.get('elem', []):
        counted = None
        if isinstance(value, dict) and 'elem' in value:
            counted = (value['elem'].get('counter') or {}).get('bytes')
            value = value['elem']['val']
        address, interface = value['concat'] if isinstance(value, dict) and 'concat' in value else (value, None)
        found.append((address, interface, counted))
    return found


def parse_nft_sets(text):
    """{set name: {'entries': N, 'counters': {member: bytes}}} of `nft -j list table` output (the nftables backend),
    members as ipset writes them (`10.8.0.2,wg-up-1`), so that the accounting reads the same either way."""
    sets = {}
    for item in json.loads(text or '{}').get('nftables', []):
        if 'set' not in item:
            continue
        elements = nft_elements(item['set'])
        sets[item['set']['name']] = dict(entries=len(elements), counters=dict(
            (address if interface is None else '%s,%s' % (address, interface), counted)
            for address, interface, counted in elements if counted is not None))
    return sets


def read_nft_sets(table, names, run_command):
    """parse_nft_sets of the sets `names` of table inet `table` that exist, in one `nft -j -i` of their listings, with
    `run_command(argv, data) -> (rc, stdout)`: not the whole table, whose rule lists' interval sets (100,000s of
    networks, neither filled nor counted) took seconds to list. The table's listing when nft has no interactive mode."""
    if not names:
        return {}
    # HOME where no file can be: nft's interactive mode would read and write its history (~/.nft.history) each time,
    # a line per set, and read it all back on the next start.
    rc, out = run_command(['env', 'HOME=/dev/null', 'nft', '-j', '-i'],
                          ''.join('list set inet %s %s\n' % (table, name) for name in names))
    if rc == 0:
        try:  # a JSON document a set (a set that is gone: none)
            return dict(item for line in out.splitlines() if line.strip() for item in parse_nft_sets(line).items())
        except (ValueError, AttributeError):  # not JSON documents alone (a prompt of another build): read as below
            pass
    rc, out = run_command(['nft', '-j', 'list', 'table', 'inet', table], None)
    return dict((name, found) for name, found in (parse_nft_sets(out) if rc == 0 else {}).items() if name in names)


# Rules: what the figures mean ---------------------------------------------------------------------

def handshake_limit(keepalive):
    """The oldest latest handshake a healthy upstream with this keepalive has (None: without keepalive an idle
    tunnel does not shake hands, and being up is all that can be told)."""
    return HANDSHAKE_MAX_AGE + keepalive + HANDSHAKE_MARGIN if keepalive else None


def read_tunnels(names, links, now, run_command):
    """{name: tunnel_state} of the interfaces `names`, from `ip -j link` entries and one `wg show NAME dump` each
    (`run_command(argv) -> (rc, stdout)`)."""
    flags = dict((link['ifname'], link.get('flags', [])) for link in links)
    tunnels = {}
    for name in names:
        counters = {}
        if name in flags:
            rc, out = run_command(['wg', 'show', name, 'dump'])
            counters = peer_counters(out, now) if rc == 0 else {}
        tunnels[name] = tunnel_state(name, flags.get(name), counters)
    return tunnels


def tunnel_state(name, flags, counters):
    """An upstream tunnel: `flags` of its link (`ip -j link`; None when it does not exist), `counters` of its
    `wg show dump` (peer_counters; {} when not read)."""
    state = dict(name=name, exists=flags is not None, up='UP' in (flags or []),
                 latest_handshake=None, handshake_age=None, rx_bytes=0, tx_bytes=0)
    state.update(counters)
    return state


def is_up(tunnel):
    return bool(tunnel.get('exists')) and bool(tunnel.get('up'))


def healthy(tunnel, limit):
    age = tunnel.get('handshake_age')
    return is_up(tunnel) and (limit is None or (age is not None and age <= limit))


def client_traffic(client, counters):
    """{'sent': {'upstream': bytes, 'direct': bytes}, 'received': {...}} of a split client, from the plan's
    `counters` of it (which member of which accounting set counts what) and {set: {member: bytes}}."""
    traffic = dict((direction, dict((path, 0) for path in PATHS)) for direction in DIRECTIONS)
    for counter in client.get('counters', []):
        traffic[counter['direction']][counter['path']] += counters.get(counter['set'], {}).get(counter['member'], 0)
    return traffic


# The exporter: reads the host and writes the textfile --------------------------------------------

def label_value(text):
    return '"%s"' % str(text).replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n')


class Metrics(object):
    """Prometheus text exposition: each metric's HELP and TYPE once, then its samples."""

    def __init__(self):
        self.lines = ['# Written by wgsplit.gateway (wgsplit-metrics.timer).']

    def add(self, name, kind, text, samples):
        self.lines += ['# HELP %s %s' % (name, text), '# TYPE %s %s' % (name, kind)]
        for labels, value in samples:
            rendered = ','.join('%s=%s' % (key, label_value(labels[key])) for key in sorted(labels))
            self.lines.append('%s{%s} %s' % (name, rendered, value) if rendered else '%s %s' % (name, value))

    def text(self):
        return '\n'.join(self.lines) + '\n'


def render(config, state, now):
    """The metrics of `config` (what the plan wrote: upstreams, clients with their counters, sets) for `state`
    (read_state)."""
    metrics = Metrics()
    upstreams = config.get('upstreams', [])
    tunnels = [(upstream, state['tunnels'].get(upstream['interface'], {})) for upstream in upstreams]

    def per_upstream(value):
        return [(dict(upstream=upstream['name'], interface=upstream['interface']), value(upstream, tunnel))
                for upstream, tunnel in tunnels if value(upstream, tunnel) is not None]
    metrics.add('wgsplit_upstream_up', 'gauge', 'Whether the upstream\'s WireGuard interface exists and is up.',
                per_upstream(lambda upstream, tunnel: int(is_up(tunnel))))
    metrics.add('wgsplit_upstream_healthy', 'gauge', 'Whether the upstream is up with a recent handshake.',
                per_upstream(lambda upstream, tunnel: int(healthy(tunnel, upstream.get('handshake_limit')))))
    metrics.add('wgsplit_upstream_handshake_age_seconds', 'gauge', 'Seconds since the latest handshake.',
                per_upstream(lambda upstream, tunnel: tunnel.get('handshake_age')))
    for direction, key in (('received', 'rx_bytes'), ('sent', 'tx_bytes')):
        metrics.add('wgsplit_upstream_%s_bytes_total' % direction, 'counter', 'Bytes %s through the tunnel.' % direction,
                    per_upstream(lambda upstream, tunnel, key=key: tunnel.get(key, 0)))
    traffic = [(client, client_traffic(client, state['counters'])) for client in config.get('clients', [])]
    for direction in DIRECTIONS:
        # A figure whose set could not be read is left out: a 0 would read as a counter reset.
        metrics.add('wgsplit_client_%s_bytes_total' % direction, 'counter',
                    'Bytes the client %s, through its upstream or direct.' % direction,
                    [(dict(client=client['name'], upstream=client['upstream'], path=path), figures[direction][path])
                     for client, figures in traffic for path in PATHS
                     if all(counter['set'] in state['counters'] for counter in client['counters']
                            if counter['direction'] == direction and counter['path'] == path)])
    sets = [item for item in config.get('sets', []) if item['name'] in state['sets']]
    metrics.add('wgsplit_set_entries', 'gauge', 'Members of the collection\'s sets.',
                [(dict(set=item['name']), state['sets'][item['name']]['entries']) for item in sets])
    metrics.add('wgsplit_set_max_entries', 'gauge', 'The most members each set takes (maxelem).',
                [(dict(set=item['name']), item['maxelem']) for item in sets])
    metrics.add('wgsplit_resolver_up', 'gauge', 'Whether the split clients\' resolver runs.', [({}, int(state['resolver']))])
    metrics.add('wgsplit_metrics_timestamp_seconds', 'gauge', 'When these figures were read.', [({}, int(now))])
    return metrics.text()


def run(argv, data=None):
    """(rc, stdout) of argv, `data` on its stdin."""
    try:
        process = subprocess.Popen(argv, stdin=subprocess.PIPE if data is not None else None, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, universal_newlines=True, env=dict(os.environ, **C_LOCALE))
    except OSError:  # a command that is not installed: nothing read
        return 127, ''
    out = process.communicate(data)[0]
    return process.returncode, out


def read_state(config, now, run_command):
    """What `render` needs, read from the host with `run_command(argv, data=None) -> (rc, stdout)`."""
    links = json.loads(run_command(['ip', '-j', 'link', 'show'])[1] or '[]')
    tunnels = read_tunnels([upstream['interface'] for upstream in config.get('upstreams', [])], links, now, run_command)
    counter_sets = sorted(set(counter['set'] for client in config.get('clients', []) for counter in client['counters']))
    if config.get('nftables_table'):
        named = sorted(set(item['name'] for item in config.get('sets', [])) | set(counter_sets))
        sets = read_nft_sets(config['nftables_table'], named, run_command)
        counters = dict((name, sets[name]['counters']) for name in counter_sets if name in sets)
    else:
        sets = parse_set_headers(run_command(['ipset', 'list', '-t'])[1])
        counters = {}
        for name in counter_sets:
            rc, out = run_command(['ipset', 'save', name]) if name in sets else (1, '')
            if rc == 0:
                counters[name] = parse_counters(out)
    resolver = run_command(['systemctl', 'is-active', '--quiet', config['resolver_unit']])[0] == 0
    return dict(tunnels=tunnels, sets=sets, counters=counters, resolver=resolver)


def write_textfile(path, text):
    """Replaced at once: node_exporter never reads half a file (a name without .prom until then)."""
    temporary = '%s.%d.tmp' % (path, os.getpid())
    try:
        with open(temporary, 'w') as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
        os.rename(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.stderr.write('usage: exporter CONFIG.json\n')
        return 2
    with open(argv[0]) as handle:
        config = json.load(handle)
    now = time.time()
    write_textfile(config['textfile'], render(config, read_state(config, int(now), run), now))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
