# -*- coding: utf-8 -*-
# Copyright: (c) 2026, wgsplit.gateway developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a gateway does now, from its plan and what split_info read: each enabled upstream's tunnel (up, latest
handshake, bytes) and whether it counts as healthy, each split client's upstream, rules, the addresses its
sets hold and the bytes it sent and received through its upstream and direct, the resolver's state, and what a run
of the inventory would change (drift: what split_pending and the plan found differing); and the same as a table
for people. What the figures mean is module_utils/metrics.py's (the metrics exporter shares it)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.wgsplit.gateway.plugins.module_utils.metrics import (
    client_traffic, handshake_limit, healthy, is_up)

FULL_SHARE = 0.9


def upstream_status(upstream, tunnel):
    return dict(name=upstream['name'], interface=upstream['interface'], up=is_up(tunnel), handshake_age=tunnel.get('handshake_age'),
                rx_bytes=tunnel.get('rx_bytes', 0), tx_bytes=tunnel.get('tx_bytes', 0),
                healthy=healthy(tunnel, handshake_limit(upstream.get('persistent_keepalive', 0))))


def drift(plan, found, pending):
    """What a run of the inventory would change now, by part: the packages it would install, the module calls
    split_pending found pending, and what the plan would write, start, stop, empty or remove (files, services,
    sets). [] when the gateway is in step."""
    order = [call['name'] for calls in plan.get('calls', {}).values() for call in calls]  # the run's order
    parts = sorted((pending or {}).get('pending', {}).items(), key=lambda item: order.index(item[0]) if item[0] in order else len(order))
    resolver = plan.get('resolver', {})
    reasons = (('write_config', 'its configuration differs'), ('write_unit', 'its unit differs'),
               ('start', 'it is not running'), ('stop', 'it still runs or its unit remains'),
               ('stop_backs', 'back resolvers no longer planned still run or start at boot'),
               ('start_backs', 'back resolvers are not running'),
               ('enable_backs', 'back resolvers do not start at boot'),
               ('interrupted', 'a run stopped before its end (its journal remains)'),
               ('stale_sets', 'sets hold addresses of removed domains'),
               ('stale_table_sets', 'sets hold addresses of removed domains'))
    parts += [('resolver', [reason]) for key, reason in reasons if resolver.get(key)]
    if plan.get('state') == 'absent' and resolver.get('apply'):
        parts.append(('resolver', ['its files or services remain']))
    if found.get('missing_packages'):
        parts.insert(0, ('packages', ['not installed: %s' % ', '.join(found['missing_packages'])]))
    metrics = plan.get('metrics', {})
    if any(item['write'] for item in metrics.get('files', [])) or metrics.get('start') or metrics.get('stop') or metrics.get('remove'):
        parts.append(('metrics', ['its files or timer differ']))
    kept = plan.get('kept_clients', {})
    # Removal names the directory whether or not it is there; its files are what tells.
    if kept.get('write') or [path for path in kept.get('remove', []) if path != kept.get('directory')]:
        parts.append(('kept clients', ['their files differ']))
    if plan.get('removed', {}).get('sets'):
        parts.append(('split_client.removed_sets', ['sets of removed clients or rules remain']))
    return [dict(part=part, reasons=reasons) for part, reasons in parts]


def status(plan, found, pending=None):
    tunnels = dict((tunnel['name'], tunnel) for tunnel in found.get('wireguard', {}).get('tunnels', []))
    # The sets of either backend (their names are the same).
    entries = dict(found.get('ipsets', {}).get('entries', {}), **found.get('nftables', {}).get('entries', {}))
    upstreams = [upstream_status(upstream, tunnels.get(upstream['interface'], {})) for upstream in plan.get('upstreams', [])]
    counters = dict(found.get('ipsets', {}).get('counters', {}), **found.get('nftables', {}).get('counters', {}))
    clients = [dict(client, learned=sum(entries.get(name, 0) for name in client['sets']),
                    traffic=client_traffic(client, counters)) for client in plan.get('clients', [])]
    resolver = dict(active=bool(found.get('resolver', {}).get('active')), enabled=bool(found.get('resolver', {}).get('enabled')))
    down = [upstream['name'] for upstream in upstreams if not upstream['healthy']]
    # A full set takes no more addresses: new destinations of its names would take the default path.
    full = [dict(name=item['name'], entries=entries.get(item['name'], 0), maxelem=item['maxelem']) for item in plan.get('set_limits', [])
            if entries.get(item['name'], 0) >= FULL_SHARE * item['maxelem']]
    differs = drift(plan, found, pending)
    lines = table(upstreams, clients, resolver)
    lines += ['sets nearly full (raise wgsplit_set_maxelem): %s' % ', '.join(
        '%s %d of %d' % (item['name'], item['entries'], item['maxelem']) for item in full)] if full else []
    if pending is not None:
        lines.append('in step with the inventory: %s' % ('yes' if not differs else 'NO, a run would change: ' + '; '.join(
            '%s (%s)' % (item['part'], ', '.join(item['reasons'])) for item in differs)))
    return dict(upstreams=upstreams, clients=clients, resolver=resolver, down=down, full=full, drift=differs, lines=lines)


def table(upstreams, clients, resolver):
    rows = [('upstream', 'interface', 'state', 'handshake', 'received', 'sent')]
    for upstream in upstreams:
        state = 'healthy' if upstream['healthy'] else ('up, no handshake' if upstream['up'] else 'DOWN')
        age = 'never' if upstream['handshake_age'] is None else '%d s ago' % upstream['handshake_age']
        rows.append((upstream['name'], upstream['interface'], state, age, size(upstream['rx_bytes']),
                     size(upstream['tx_bytes'])))
    lines = aligned(rows) + ['']
    rows = [('client', 'upstream', 'domain rules', 'ip rules', 'lists', 'addresses learned', 'via upstream sent/received',
             'direct sent/received')]
    for client in clients:
        traffic = client['traffic']
        rows.append((client['name'], client['upstream'], str(client['rules']['domain']), str(client['rules']['ip']),
                     ','.join(client['rule_sets']) or '-', str(client['learned'])) +
                    tuple('%s / %s' % (size(traffic['sent'][path]), size(traffic['received'][path]))
                          for path in ('upstream', 'direct')))
    lines += aligned(rows) + ['', 'resolver: %s' % ('active' if resolver['active'] else 'NOT RUNNING')]
    return lines


def aligned(rows):
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return ['  '.join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]


def size(count):
    """Bytes as people read them (1.5 MiB)."""
    units = ('B', 'KiB', 'MiB', 'GiB', 'TiB')
    value, index = float(count), 0
    while value >= 1024 and index < len(units) - 1:
        value, index = value / 1024, index + 1
    return '%d B' % count if index == 0 else '%.1f %s' % (value, units[index])
