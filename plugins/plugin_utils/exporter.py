# -*- coding: utf-8 -*-
# Copyright: (c) 2026, wgsplit.gateway developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The metrics exporter's files (its program, its configuration, a service and a timer), rendered in Python, and
what a run must do about them given what split_info found: write only what differs, start the timer only when it
is not running, and with metrics turned off remove what the collection wrote (the metrics file it named too)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os

from ansible_collections.wgsplit.gateway.plugins.module_utils import metrics
from ansible_collections.wgsplit.gateway.plugins.module_utils.canonical import Invalid
from ansible_collections.wgsplit.gateway.plugins.module_utils.metrics import handshake_limit
from ansible_collections.wgsplit.gateway.plugins.module_utils.nftables import COLLECTION_TABLE
from ansible_collections.wgsplit.gateway.plugins.module_utils.netstate import (
    METRICS_CONFIG, METRICS_DIR, METRICS_EXPORTER, METRICS_TIMER, METRICS_UNIT, RESOLVER_UNIT, UNIT_DIR)
from ansible_collections.wgsplit.gateway.plugins.plugin_utils.settings import directory as settings_directory

TEXTFILE_NAME = 'wgsplit.prom'
SERVICE_TEXT = '''# Written by wgsplit.gateway (role split_client): edits are overwritten.
[Unit]
Description=Write wgsplit.gateway metrics for the node_exporter textfile collector
# Started by its timer and by hand (a scrape that wants figures now): never refused as started too often.
StartLimitIntervalSec=0

[Service]
Type=oneshot
ExecStart=/usr/bin/python3 {exporter} {config}
# It reads the kernel's sets and WireGuard state (CAP_NET_ADMIN) and writes one file.
CapabilityBoundingSet=CAP_NET_ADMIN
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths=-{directory}
ProtectHome=yes
PrivateTmp=yes
'''
TIMER_TEXT = '''# Written by wgsplit.gateway (role split_client): edits are overwritten.
[Unit]
Description=Refresh the wgsplit.gateway metrics every {interval} seconds

[Timer]
OnActiveSec=0
OnUnitActiveSec={interval}s
AccuracySec=1s

[Install]
WantedBy=timers.target
'''


def textfile_path(settings):
    return '%s/%s' % (settings['metrics_textfile_dir'], TEXTFILE_NAME)


def program():
    """The exporter is module_utils/metrics.py itself (its parsers are split_info's), run by the host's python3."""
    with open(os.path.splitext(metrics.__file__)[0] + '.py') as handle:
        return '#!/usr/bin/python3\n' + handle.read()


def config(settings, upstreams, clients, sets):
    """What the exporter reports on: the plan's upstreams, split clients (with their counters) and sets."""
    # The nftables backend's sets are in the collection's table, read in one `nft -j list table`.
    backend = dict(nftables_table=COLLECTION_TABLE) if settings.get('backend') == 'nftables' else {}
    return json.dumps(dict(
        backend, textfile=textfile_path(settings), resolver_unit=RESOLVER_UNIT,
        upstreams=[dict(name=upstream['name'], interface=upstream['interface'],
                        handshake_limit=handshake_limit(upstream['persistent_keepalive'])) for upstream in upstreams],
        clients=[dict(name=client['name'], upstream=client['upstream'], counters=client['counters']) for client in clients],
        sets=[dict(name=item['name'], maxelem=item['maxelem']) for item in sets]), indent=1, sort_keys=True) + '\n'


def files(found, settings, upstreams, clients, sets):
    """The exporter part of the plan (`found` is split_info's `metrics`)."""
    found_files = found.get('files', {})
    where = dict(directory=METRICS_DIR, timer=METRICS_TIMER)
    present = sorted(path for path, state in found_files.items() if state.get('text') is not None)
    old_textfile = written_textfile(found) if present else None
    if not settings['metrics'] or settings['state'] != 'present':
        return dict(where, files=[], start=False, stop=bool(found.get('timer_enabled') or found.get('timer_active')),
                    remove=present + ([old_textfile] if old_textfile else []) + ([METRICS_DIR] if present else []))
    wanted = [(METRICS_EXPORTER, program(), '0755'),
              (METRICS_CONFIG, config(settings, upstreams, clients, sets), '0600'),
              (os.path.join(UNIT_DIR, METRICS_UNIT), SERVICE_TEXT.format(
                  exporter=METRICS_EXPORTER, config=METRICS_CONFIG, directory=settings['metrics_textfile_dir']), '0644'),
              (os.path.join(UNIT_DIR, METRICS_TIMER), TIMER_TEXT.format(interval=settings['metrics_interval']), '0644')]
    planned = [dict(path=path, content=content, mode=mode,
                    write=found_files.get(path, {}).get('text') != content or found_files.get(path, {}).get('mode') != mode)
               for path, content, mode in wanted]
    # Restarted after any change: the timer runs the exporter at once, so the metrics follow the run.
    return dict(where, files=planned, textfile_dir=settings['metrics_textfile_dir'], stop=False,
                # The file of a directory no longer configured would keep serving frozen figures.
                remove=[old_textfile] if old_textfile and old_textfile != textfile_path(settings) else [],
                start=any(item['write'] for item in planned) or not (found.get('timer_enabled') and found.get('timer_active')))


def written_textfile(found):
    """The metrics file the configuration in place named, when it is one the collection would have written (a
    canonical directory, the collection's file name); None otherwise."""
    textfile = found.get('textfile') or ''
    directory, _slash, name = textfile.rpartition('/')
    try:
        return textfile if name == TEXTFILE_NAME and settings_directory(directory) == directory else None
    except Invalid:
        return None
