# -*- coding: utf-8 -*-
# Copyright: (c) 2026, wgsplit.gateway developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rule lists kept in files (`wgsplit_rule_sets` items with `file`): read on the controller, one entry
per line, and guarded, so that a broken download cannot turn a proxy list into nothing. The size of each
list as last applied is recorded in the resolver's configuration, where split_info reads it back."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress
import os
import re
import stat

from ansible_collections.wgsplit.gateway.plugins.module_utils.canonical import Invalid, family

MAX_FILE_BYTES = 256 * 1024 * 1024
COUNT_LINE = re.compile(r'^# wgsplit rule set ([a-z0-9_-]{1,32}): ([0-9]{1,9}) entries$')


def read_file(base_dir, path):
    """The text of a list file; a relative path is taken from `base_dir` (the inventory's directory)."""
    full = os.path.join(base_dir, path)
    try:
        if not stat.S_ISREG(os.stat(full).st_mode):
            raise Invalid('is not a regular file')
        with open(full, 'rb') as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except (IOError, OSError) as error:
        raise Invalid('cannot be read (%s)' % (error.strerror or type(error).__name__))
    if len(data) > MAX_FILE_BYTES:
        raise Invalid('is larger than %d MiB' % (MAX_FILE_BYTES // (1024 * 1024)))
    try:
        return data.decode('utf-8')
    except UnicodeDecodeError:
        raise Invalid('is not UTF-8 text')


def entries(text):
    """(line number, entry) of each line that holds one: `#` starts a comment, blank lines are skipped."""
    for number, line in enumerate(text.split('\n'), 1):
        entry = line.split('#', 1)[0].strip(' \t\r')
        if entry:
            yield number, entry


def broad_entry(kind, value):
    """Why a list entry covers too much to come from a list, or None: a top-level domain alone, or a network
    shorter than /8 (IPv6: /16). One such line of a broken or tampered download would send nearly everything
    one way; an inventory rule can still say it."""
    if kind == 'domain' and '.' not in value:
        return 'a top-level domain alone is not taken from a list'
    if kind == 'ip' and int(value.rpartition('/')[2]) < (16 if family(value) == 6 else 8):  # canonical: with its length
        return 'a network this large is not taken from a list'
    return None


def cut_short(text):
    """Why a list's text looks cut short, or None: a file that does not end with a line break."""
    if text and not text.endswith('\n'):
        return 'does not end with a line break (a download cut short?): refused'
    return None


def entry_type(entry):
    """'ip' for an address or network, else 'domain' (each is then parsed by its rule type's parser). Its caller
    takes an IPv4 network written as ipaddress prints it first (canonical.ipv4_network_text, no parsing)."""
    try:
        ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return 'domain'
    return 'ip'


def previous_counts(config):
    """{list name: entries} as the resolver configuration in place records them (the last applied run)."""
    counts = {}
    for line in (config or '').splitlines():
        match = COUNT_LINE.match(line)
        if match:
            counts[match.group(1)] = int(match.group(2))
    return counts


def count_lines(counts):
    """The resolver configuration's record of each file list's size (names are canonical)."""
    return ['# wgsplit rule set %s: %d entries' % (name, counts[name]) for name in sorted(counts)]


def guard(count, previous, max_change, max_entries):
    """Why a file list of `count` entries is refused, or None. `previous`: its size when last applied."""
    if count == 0:
        return 'has no entries (an empty or failed download?): refused'
    if count > max_entries:
        return 'has %d entries, more than wgsplit_rule_set_max_entries (%d)' % (count, max_entries)
    if previous and abs(count - previous) > max_change * previous:
        return ('has %d entries, %d when last applied: a change of more than %g%% is refused as a broken download'
                ' (max_change of the list, or wgsplit_rule_set_max_change, accepts it)'
                % (count, previous, max_change * 100))
    return None
