# -*- coding: utf-8 -*-
# Copyright: (c) 2026, wgsplit.gateway developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The resolver's files, rendered in Python, and what a run must do about them given what split_info found: write
only what differs, start only what is not running.

The plan decides one line per listed domain (`lines`: the sets of every client's nearest rule, and where to ask).
dnsmasq compares every answer with every `ipset=` line, so that table is not given to one resolver: the front
resolver (the clients' one, on the server interface) only sends each listed domain with a `server=` line, which it
looks up fast, to a back resolver on the loopback. A back resolver of its own serves each big combination of sets and
upstream servers and puts every answer in its sets with one catch-all line; small combinations share back resolvers
that hold their lines one per domain, a thousand at most. Beyond `wgsplit_resolver_instances` back resolvers, the last
one takes all the rest."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

from ansible_collections.wgsplit.gateway.plugins.module_utils.netstate import (
    RESOLVER_BACK_NETWORK, RESOLVER_BACK_PREFIX, RESOLVER_BACK_SUFFIX, RESOLVER_BACK_TEMPLATE, RESOLVER_CONFIG, RESOLVER_JOURNAL,
    RESOLVER_UNIT, UNIT_DIR, unit_instance)
from ansible_collections.wgsplit.gateway.plugins.plugin_utils import rule_lists
from ansible_collections.wgsplit.gateway.plugins.plugin_utils.nft_ruleset import TABLE as NFT_TABLE

MARKER = '# Written by wgsplit.gateway (role dnsmasq_split): the resolver of the split clients.'
BACK_MARKER = '# Written by wgsplit.gateway (role dnsmasq_split): a back resolver, asked by the front one only.'
UNIT_PATH = UNIT_DIR + '/' + RESOLVER_UNIT
CONFIG_DIR = os.path.dirname(RESOLVER_CONFIG)
CONFIG_MODE, CONFIG_DIR_MODE = '0600', '0700'
BACK_UNIT_PATH = UNIT_DIR + '/' + RESOLVER_BACK_TEMPLATE
BACK_NETWORK = RESOLVER_BACK_NETWORK
BACKS_MAX = 250  # 127.53.0.1 to 127.53.0.250
JOURNAL = CONFIG_DIR + '/' + RESOLVER_JOURNAL
# Between the tables of the journal (what the resolvers served before each run that stopped midway).
TABLE_BREAK = '# table'

# Both units: dnsmasq binds port 53, fills ipsets over netlink (CAP_NET_ADMIN) and drops to an unprivileged user
# after reading its configuration; it needs nothing else of the system.
SANDBOX = '''CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_NET_ADMIN CAP_NET_RAW CAP_SETUID CAP_SETGID
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
'''

UNIT_TEXT = '''# Written by wgsplit.gateway (role dnsmasq_split): edits are overwritten.
[Unit]
Description=wgsplit.gateway resolver (fills the client ipsets)
# The sets must exist before dnsmasq names them: at boot the restore makes them first (multi-user.target wants it),
# after a run they are there; pulled in, a first start would load every boot file again. The back resolvers it asks
# for the listed domains order themselves before it (their Before=).
After=network.target wgsplit-restore.service

[Service]
ExecStartPre=/usr/sbin/dnsmasq --test --conf-file={config}
ExecStart=/usr/sbin/dnsmasq --keep-in-foreground --conf-file={config}
Restart=on-failure
RestartSec=2
{sandbox}
[Install]
WantedBy=multi-user.target
'''.format(config=RESOLVER_CONFIG, sandbox=SANDBOX)

BACK_UNIT_TEXT = '''# Written by wgsplit.gateway (role dnsmasq_split): edits are overwritten.
[Unit]
Description=wgsplit.gateway back resolver %i (fills the client ipsets of its domains)
After=network.target wgsplit-restore.service
# Each back is enabled on its own (its own link), not pulled in by the front, and bound to it in no way: the front
# restarts for an edit and stops alone, on every systemd version, and a change of the backs changes no unit (no
# daemon-reload). A back that does not run fails its names closed: the front gets no answer for them.
Before={front}

[Service]
ExecStartPre=/usr/sbin/dnsmasq --test --conf-file={directory}/{prefix}%i{suffix}
ExecStart=/usr/sbin/dnsmasq --keep-in-foreground --conf-file={directory}/{prefix}%i{suffix}
Restart=on-failure
RestartSec=2
{sandbox}
[Install]
WantedBy=multi-user.target
'''.format(front=RESOLVER_UNIT, directory=CONFIG_DIR, prefix=RESOLVER_BACK_PREFIX, suffix=RESOLVER_BACK_SUFFIX, sandbox=SANDBOX)


def back_unit(number):
    return unit_instance(RESOLVER_BACK_TEMPLATE, number)


def back_address(number):
    return BACK_NETWORK + str(number)


def back_path(number):
    return '%s/%s%d%s' % (CONFIG_DIR, RESOLVER_BACK_PREFIX, number, RESOLVER_BACK_SUFFIX)


# The plan's table: one entry per listed domain -------------------------------------------------------------
def entry(domain, sets, servers):
    """A listed domain: the sets its answers go to, and where it is asked (['#']: the default servers)."""
    return dict(domain=domain, sets=sorted(sets), servers=list(servers))


def lines(entries):
    """The table as dnsmasq lines (parents first): an ipset= line per domain, a server= line where a domain is
    asked elsewhere than its nearest listed parent."""
    servers, text = {}, []
    for item in entries:
        text.append('ipset=/%s/%s' % (item['domain'], ','.join(item['sets'])))
        parent = nearest(servers, ancestors(item['domain'])[1:], ['#'])
        servers[item['domain']] = item['servers']
        if item['servers'] != parent:
            text.extend('server=/%s/%s' % (item['domain'], address) for address in item['servers'])
    return text


def file_line(line, settings):
    """A line of the table as a resolver's file holds it: with the nftables backend, dnsmasq's nftset= names each
    set's family (the last character of its name), family and table."""
    if settings.get('backend') != 'nftables' or not line.startswith('ipset=/'):
        return line
    domain, names = line.split('/', 2)[1:]
    return 'nftset=/%s/%s' % (domain, ','.join('%s#inet#%s#%s' % (name[-1], NFT_TABLE, name) for name in names.split(',')))


def logical_line(line):
    """The table's line a resolver's file line stands for (file_line undone)."""
    if not line.startswith('nftset=/'):
        return line
    domain, specs = line.split('/', 2)[1:]
    return 'ipset=/%s/%s' % (domain, ','.join(spec.rsplit('#', 1)[-1] for spec in specs.split(',')))


# A combination of at most SMALL domains shares a back resolver with others, up to SHARED_LINES lines in all (what
# an answer is compared with there); a bigger one has its own, with one line whatever its size.
SMALL, SHARED_LINES = 100, 1000


def instances(entries, limit, packing=(SMALL, SHARED_LINES), previous=None):
    """[(combination, entries)] by back resolver, numbered from 1: a back of its own for each combination of sets
    and servers with more than SMALL domains (most domains first), then the small ones packed into shared backs
    (combination None: a line per domain); beyond `limit` backs, the last one takes all the rest. `previous`
    ({domain: number} of the shared backs in place, shared_in_place): a small combination stays in the back it was
    in while it fits, and the others fill the backs in place before new ones; so an edit of one client changes one
    shared back, not every one packed after it. When that leaves more shared backs than a packing anew would by over
    a quarter and one (clients removed), they are packed anew, every shared back changed once, where numbers not in
    place are left for them; so too when the backs in place would exceed `limit` where a packing anew does not. A
    second run changes nothing, but where numbers were short: the next run then packs anew once."""
    groups = {}
    for item in entries:
        groups.setdefault((tuple(item['sets']), tuple(item['servers'])), []).append(item)
    ordered = sorted(groups.items(), key=lambda group: (-len(group[1]), group[0]))
    small, shared_lines = packing
    backs = [(combination, items) for combination, items in ordered if len(items) > small]
    small_groups = [items for _combination, items in ordered[len(backs):]]
    anew = len(next_fit(small_groups, shared_lines))
    previous = previous or {}
    # Packed anew only where the backs packed anew find numbers beside those in place (a number used again stops the
    # front). While the limit binds (a packing anew needs more backs), or no such numbers are left, a back in place
    # keeps what it holds whatever its size (the last one, holding the rest): a second run keeps it.
    free = len(set(previous.values())) + len(backs) + anew <= BACKS_MAX
    shared = sticky(small_groups, previous, shared_lines, len(backs) + anew > limit or not free)
    # Packed anew when clients removed left the shared backs half empty, or when the backs in place would need the last
    # one to hold the rest where a packing anew fits the limit (it was raised).
    if previous and free and (len(shared) > anew + 1 + anew // 4 or len(backs) + len(shared) > limit >= len(backs) + anew):
        return instances(entries, limit, packing)
    backs += [(None, items) for items in shared]
    if len(backs) > limit:
        backs = backs[:limit - 1] + [(None, [item for _combination, items in backs[limit - 1:] for item in items])]
    return [(combination, items if combination else sorted(items, key=domain_order)) for combination, items in backs]


def sticky(groups, previous, shared_lines, over_size):
    """The shared backs of the small combinations (`groups`, most domains first) where `previous` ({domain: number})
    had them: see instances(). `over_size`: a back in place may keep more than shared_lines, as many as it held."""
    held = {}
    for domain, number in previous.items():
        held.setdefault(number, set()).add(domain)
    kept, rest = {}, []
    for items in groups:
        number = previous.get(min(items, key=domain_order)['domain'])
        capacity = max(shared_lines, len(held[number])) if number is not None and over_size else shared_lines
        if number is not None and len(kept.get(number, [])) + len(items) <= capacity:
            kept.setdefault(number, []).extend(items)
        else:
            rest.append(items)
    # The others go first where a back in place changes anyway (its domains are not those it holds), then where one
    # has room (it changes, as a new back would start), and only then into new backs: no back for each new client.
    in_place = [kept[number] for number in sorted(kept)]
    changing = [group for number, group in sorted(kept.items()) if set(item['domain'] for item in group) != held[number]]
    homeless = []
    for items in rest:
        room = next((group for group in changing + in_place if len(group) + len(items) <= shared_lines), None)
        if room is None:
            homeless.append(items)
            continue
        if not any(room is group for group in changing):
            changing.append(room)
        room.extend(items)
    return in_place + next_fit(homeless, shared_lines)


def next_fit(groups, capacity):
    """Lists of items, in order, filled with each group until the next does not fit: a new list then."""
    bins = []
    for items in groups:
        if not bins or len(bins[-1]) + len(items) > capacity:
            bins.append([])
        bins[-1].extend(items)
    return bins


def domain_order(item):
    return (item['domain'].count('.'), item['domain'])


def layout(settings, entries, counts=None, packing=(SMALL, SHARED_LINES), in_place=None):
    """(front configuration, [(number, back configuration)] by number). `in_place`: {number: text} of the back
    configurations in place (numbers()): make before break."""
    planned = instances(entries, settings['resolver_instances'], packing, shared_in_place(in_place or {}))
    bodies = [back_body(settings, combination, items) for combination, items in planned]
    backs, number_of = [], {}
    for number, body, (_combination, items) in zip(numbers(bodies, in_place or {}), bodies, planned):
        backs.append((number, with_address(body, number)))
        number_of.update((item['domain'], number) for item in items)
    routes = []
    for item in entries:  # a domain asks the back of its nearest listed parent unless told otherwise
        parent = nearest(number_of, ancestors(item['domain'])[1:])
        if number_of[item['domain']] != parent:
            routes.append('server=/%s/%s' % (item['domain'], back_address(number_of[item['domain']])))
    return front_config(settings, routes, counts), sorted(backs)


def shared_in_place(in_place):
    """{domain: number} of the shared back resolvers in place ({number: text}, those with a line per domain)."""
    result = {}
    for number, text in in_place.items():
        lines = [logical_line(line) for line in text.splitlines()]
        if not [line for line in lines if line.startswith('ipset=/#/')]:
            result.update((line.split('/')[1], number) for line in lines if line.startswith('ipset=/'))
    return result


def numbers(bodies, in_place):
    """A number for each back configuration (without its address): the one it has in place, else one that no
    configuration in place has. So a run never gives a file the running front resolver asks another meaning: a run
    stopped before the front's restart, or a back restarted on its own meanwhile, serves what it served (the old
    backs go once the front asks the new ones). Only when every number is in use is one of an old back reused."""
    kept = {}
    for number, text in sorted(in_place.items()):
        if 1 <= number <= BACKS_MAX:
            kept.setdefault(body_of(text), number)
    result = [kept.get(body) for body in bodies]
    free = [number for number in range(1, BACKS_MAX + 1) if number not in in_place and number not in result]
    free += [number for number in range(1, BACKS_MAX + 1) if number in in_place and number not in result]
    return [number if number is not None else free.pop(0) for number in result]


def with_address(body, number):
    lines = body.splitlines()
    return '\n'.join(lines[:1] + ['listen-address=%s' % back_address(number)] + lines[1:]) + '\n'


def body_of(text):
    return ''.join(line + '\n' for line in text.splitlines() if not line.startswith('listen-address='))


def numbered(found_backs):
    """{number: text} of split_info's `backs` ({path: {text, mode}})."""
    result = {}
    for path, back in found_backs.items():
        name = os.path.basename(path)[len(RESOLVER_BACK_PREFIX):-len(RESOLVER_BACK_SUFFIX)]
        if name.isdigit() and back.get('text') is not None:
            result[int(name)] = back['text']
    return result


def front_config(settings, routes, counts):
    """The clients' resolver: fixed options from the settings, the size of each rule list file applied (comments:
    the next run's guard compares with them), then where each listed domain is asked."""
    text = [MARKER,
            '# It answers on the server interface only and sends each listed domain to the back resolver that puts',
            '# its addresses into the client sets (one server= line per domain: looked up by name, not one by one).',
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
    return '\n'.join(text + routes) + '\n'


def back_body(settings, combination, items):
    """A back resolver without its address: no cache (the front caches; every name it forwards must reach the
    sets), its servers and one catch-all ipset= line; or, shared by small combinations, their lines one per domain.
    An upstream's resolvers are `server=/#/` lines, the default servers plain ones (the next run reads which is
    which)."""
    text = [BACK_MARKER,
            'port=53',
            'bind-interfaces',
            'no-resolv',
            'no-hosts',
            'pid-file=',
            'cache-size=0']
    if combination is None:
        text += ['server=%s' % server for server in settings['dns_servers']]
        text += [file_line(line, settings) for line in lines(items)]
    else:
        sets, servers = combination
        if list(servers) == ['#']:
            text += ['server=%s' % server for server in settings['dns_servers']]
        else:
            text += ['server=/#/%s' % server for server in servers]
        text.append(file_line('ipset=/#/%s' % ','.join(sets), settings))
    return '\n'.join(text) + '\n'


# What is in place -------------------------------------------------------------------------------------------
def in_place_lines(front, backs, journal=None):
    """The table the resolvers in place serve, as `lines` gives it for a plan (the same feeds and servers), from
    the front configuration and the back ones' texts, or from a front configuration that holds the lines itself
    (as the collection wrote it before back resolvers); then, after a TABLE_BREAK, the tables of the journal of a
    run that stopped before its end (what the resolvers running then served). The tables stay apart: a name's most
    specific line in one is not the one of another (stale_sets)."""
    served = {}  # listen address: (its catch-all sets or None, its upstream servers, its lines), read once per back
    for text in backs:
        text_lines = [logical_line(line) for line in text.splitlines()]
        listen = [line.split('=', 1)[1] for line in text_lines if line.startswith('listen-address=')]
        if listen:
            catch_all = [line.split('/', 2)[2] for line in text_lines if line.startswith('ipset=/#/')]
            servers = [line.split('/', 2)[2] for line in text_lines if line.startswith('server=/#/')]
            served[listen[0]] = (catch_all[0] if catch_all else None, servers, text_lines)
    result, routes = [], {}
    for line in [logical_line(line) for line in (front or '').splitlines()]:
        if not line.startswith(('ipset=/', 'server=/')):
            continue
        domain, target = line.split('/', 2)[1:]
        if line.startswith('server=/') and target.startswith(BACK_NETWORK):
            routes[domain] = target
        else:
            result.append(line)
    shared = set()
    for domain, target in routes.items():
        catch_all, servers, back = served.get(target, (None, [], []))
        if catch_all:
            result.append('ipset=/%s/%s' % (domain, catch_all))
            result += ['server=/%s/%s' % (domain, server) for server in servers]
            continue
        if target in shared:  # a shared back's lines are read once, whatever the number of names routed to it
            continue
        shared.add(target)
        for value in back:  # a shared back: its lines for the names the front sends it
            if value.startswith(('ipset=/', 'server=/')):
                name = value.split('/', 2)[1]
                if nearest(routes, ancestors(name)) == target:
                    result.append(value)
    result = list(dict.fromkeys(result))  # each line once, where it first came
    kept = [line for line in (journal or '').splitlines() if line.startswith(('ipset=/', 'server=/')) or line == TABLE_BREAK]
    return result + ([TABLE_BREAK] + kept if kept else [])


def tables(lines):
    """The tables of in_place_lines' list, apart."""
    result = [[]]
    for line in lines:
        if line == TABLE_BREAK:
            result.append([])
        else:
            result[-1].append(line)
    return [table for table in result if table]


def upstream_servers(table):
    """The upstream resolvers a table of lines asks (not the default servers)."""
    found = []
    for line in table:
        if line.startswith('server=/'):
            address = line.rsplit('/', 1)[1]
            if address != '#' and address not in found:
                found.append(address)
    return found


def files(found, front, backs, old_lines=(), keep_journal=False):
    """The resolver part of the plan: the arguments of the one dnsmasq_instances call (`instances`) and whether it
    must run (`apply`), by what differs from what split_info found (`found` is its `resolver`), so that a run that
    changes nothing makes no call for the resolver's files and services; the reasons, for status. `front` is None
    when the resolver is to be removed. `backs`: [(number, text)]. Each file names the services a change of it
    restarts: a back's file its back (a new one starts instead), the front's the front alone.
    `old_lines`: the table in place (in_place_lines), the journal a run writes before it changes any file and removes
    at its end: a run that finds it restarts the resolvers and treats its lines as in place (sets to empty,
    resolvers to keep refused until the restart). `keep_journal`: the run still needs the journal after the call (sets to empty again after the restart:
    the role removes it then); else the call removes it as its last step."""
    in_place = found.get('backs') or {}
    running = found.get('backs_active') or []
    enabled = found.get('backs_enabled') or []
    interrupted = found.get('journal') is not None
    if front is None:
        stop = found.get('unit') is not None or bool(found.get('active'))
        left = [found.get(key) for key in ('config', 'config_dir_mode', 'unit', 'back_unit', 'journal')]
        retire = sorted(set(running) | set(enabled))
        instances = dict(state='absent', directory=CONFIG_DIR, configs=[], units=[dict(path=UNIT_PATH), dict(path=BACK_UNIT_PATH)],
                         front=RESOLVER_UNIT, backs=[], retire=retire, remove=[], journal=dict(path=JOURNAL), restart=False,
                         back_template=BACK_UNIT_PATH)
        return dict(instances=instances, apply=bool(stop or retire or in_place or any(value is not None for value in left)),
                    config=None, backs=[], write_config=False, write_unit=False, start=False, start_backs=[], enable_backs=[],
                    stop_backs=retire, journal=None, interrupted=interrupted, stop=stop, journal_removal=None)
    # A back's file restarts its back; one under a number in place or running (reused: every one was in use) the
    # front too, whose cache must not keep answering with what the number meant before.
    wanted = [dict(path=back_path(number), text=text, restarts=[back_unit(number)] + (
        [RESOLVER_UNIT] if back_path(number) in in_place or back_unit(number) in running else [])) for number, text in backs]
    wanted.append(dict(path=RESOLVER_CONFIG, text=front, restarts=[RESOLVER_UNIT]))  # the front last: it names the backs

    def differs(path, text):
        if path == RESOLVER_CONFIG:
            return found.get('config') != text or found.get('config_mode') != CONFIG_MODE
        return in_place.get(path) != dict(text=text, mode=CONFIG_MODE)
    write = [item for item in wanted if differs(item['path'], item['text'])]
    paths = [item['path'] for item in wanted]
    remove = sorted(path for path in in_place if path not in paths)
    write_unit = found.get('unit') != UNIT_TEXT or found.get('back_unit') != BACK_UNIT_TEXT
    units = [back_unit(number) for number, _text in backs]
    write_config = bool(write or remove) or found.get('config_dir_mode') != CONFIG_DIR_MODE
    journal = ''.join(line + '\n' for line in old_lines) if write_config or write_unit or interrupted else None
    start_backs = [name for name in units if name not in running]
    enable_backs = [name for name in units if name not in enabled]
    # Running or enabled at boot, and no longer asked: stopped and disabled (a back restarting after a failure runs).
    stop_backs = sorted(name for name in set(running) | set(enabled) if name not in units)
    start = write_unit or not (found.get('enabled') and found.get('active'))
    instances = dict(state='present', directory=CONFIG_DIR, configs=write,
                     units=[dict(path=BACK_UNIT_PATH, text=BACK_UNIT_TEXT, restarts=units),
                            dict(path=UNIT_PATH, text=UNIT_TEXT, restarts=[RESOLVER_UNIT])],
                     front=RESOLVER_UNIT, backs=units, retire=stop_backs, remove=remove,
                     journal=None if journal is None else dict(path=JOURNAL, text=journal, keep=keep_journal),
                     restart=interrupted, back_template=BACK_UNIT_PATH)
    return dict(instances=instances,
                apply=bool(write_config or write_unit or start or start_backs or enable_backs or stop_backs or interrupted),
                config=front, backs=wanted[:-1],  # the texts wanted, written or not
                write_config=write_config, write_unit=write_unit, start=start, start_backs=start_backs, enable_backs=enable_backs,
                stop_backs=stop_backs, journal=journal, interrupted=interrupted, stop=False,
                # What the role removes at the run's end: the journal the call keeps.
                journal_removal=JOURNAL if journal is not None and keep_journal else None)


def ancestors(domain):
    """The domain and every parent domain, most specific first."""
    labels = domain.split('.')
    return ['.'.join(labels[index:]) for index in range(len(labels))]


def nearest(values, names, default=None):
    """The value of the first of `names` (most specific first) that `values` has: what dnsmasq's most specific
    line for a name gives."""
    return next((values[name] for name in names if name in values), default)


def stale_sets(old_lines, new_lines):
    """Sets that the resolvers in place fed from names the new lines no longer send them: they must be emptied,
    or addresses would keep a path their rules no longer give them. dnsmasq feeds a name's addresses to the
    sets of its most specific ipset= line, so for every domain of either table the sets its nearest
    line fed before are compared with those it feeds now: a domain removed, a set dropped from a line, and a
    more specific line added under a domain (its names left the parent's sets) all count. Each table of
    `old_lines` (the files in place, a journal's) counts apart: a line of the files more specific than the
    journal's would hide what the journal's resolvers fed."""
    def feeds(lines):
        result = {}
        for line in lines:
            if line.startswith('ipset=/'):
                domain, names = line.strip().split('/', 2)[1:]
                result[domain] = set(names.split(','))
        return result

    new = feeds(new_lines)
    stale = set()
    for old in [feeds(table) for table in tables(old_lines)]:
        for domain in set(old) | set(new):
            stale |= nearest(old, ancestors(domain), set()) - nearest(new, ancestors(domain), set())
    return sorted(stale)
