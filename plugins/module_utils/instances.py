# -*- coding: utf-8 -*-
# Copyright: (c) 2026, wgsplit.gateway developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A front dnsmasq and its back instances under systemd (module dnsmasq_instances): their files written and their
services started, restarted and stopped in the one order a change of them needs, in one call.

Make before break: the configurations are all checked by dnsmasq before any is written, the journal is written
before them, the front restarts once every new file is in place, and the instances it no longer asks stop only
after that restart. A run stopped anywhere leaves the journal, so the next one restarts the resolvers."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import re
import tempfile

from ansible_collections.wgsplit.gateway.plugins.module_utils.netstate import Commands, read_text, write_file

CONFIG_MODE, DIRECTORY_MODE, UNIT_MODE = 0o600, 0o700, 0o644
MARKER = 'wgsplit.gateway'  # in the first two lines of every file the collection writes
UNIT_NAME = re.compile(r'^[A-Za-z0-9:_.-]+(@[A-Za-z0-9:_.-]*)?\.service$')

FILE = dict(path=dict(type='path', required=True), text=dict(type='str'))
ARGUMENTS = dict(argument_spec=dict(
    state=dict(type='str', choices=['present', 'absent'], default='present'),
    directory=dict(type='path', required=True),
    configs=dict(type='list', elements='dict', default=[], options=FILE),
    units=dict(type='list', elements='dict', default=[], options=FILE),
    front=dict(type='str', required=True),
    backs=dict(type='list', elements='str', default=[]),
    retire=dict(type='list', elements='str', default=[]),
    remove=dict(type='list', elements='path', default=[]),
    journal=dict(type='dict', options=FILE),
    restart=dict(type='bool', default=False),
))


def ours(text):
    return text is not None and MARKER in '\n'.join(text.splitlines()[:2])


def leftover(path):
    """A temporary file of a write or check this module did not finish."""
    return os.path.basename(path).startswith('.wgsplit-')


def file_mode(path):
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return None


def parse_show(output, names):
    """{unit: {'active': bool, 'enabled': bool}} from `systemctl show --property=ActiveState,UnitFileState` of
    `names` (one block each, in their order)."""
    blocks = [dict(line.split('=', 1) for line in block.splitlines() if '=' in line)
              for block in output.strip().split('\n\n')] if output.strip() else []
    if len(blocks) != len(names):
        raise ValueError('systemctl show gave %d blocks for %d units' % (len(blocks), len(names)))
    return dict((name, dict(active=block.get('ActiveState') == 'active', enabled=block.get('UnitFileState') == 'enabled'))
                for name, block in zip(names, blocks))


class DnsmasqInstances:
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.cmd = Commands(module)
        self.done = dict(written=[], removed=[], started=[], stopped=[], restarted=False, enabled=False, disabled=False)

    def check(self):
        params, directory = self.params, self.params['directory']
        names = [params['front']] + params['backs'] + params['retire']
        bad = [name for name in names if not UNIT_NAME.match(name)]
        if bad:
            self.module.fail_json(msg='not a service unit name: %s' % ', '.join(bad))
        inside = [item['path'] for item in params['configs']] + params['remove']
        inside += [params['journal']['path']] if params['journal'] else []
        outside = [path for path in inside if os.path.dirname(path) != directory]
        if outside:
            self.module.fail_json(msg='not a file of directory %s: %s' % (directory, ', '.join(outside)))
        if params['state'] == 'present':
            missing = [item['path'] for item in params['configs'] + params['units'] + [params['journal'] or {}]
                       if item and item.get('text') is None]
            if missing:
                self.module.fail_json(msg='no text given for %s' % ', '.join(missing))
        retired = set(params['retire']) & set([params['front']] + params['backs'])
        if retired:
            self.module.fail_json(msg='units both wanted and retired: %s' % ', '.join(sorted(retired)))

    def services(self, names):
        if not names:
            return {}
        output = self.cmd.run(['systemctl', 'show', '--property=ActiveState,UnitFileState', '--'] + names)[1]
        try:
            return parse_show(output, names)
        except ValueError as error:
            self.module.fail_json(msg=str(error), stdout=output)

    def read(self):
        params = self.params
        files = [item['path'] for item in params['configs'] + params['units']] + params['remove']
        return dict(directory_mode=file_mode(params['directory']),
                    files=dict((path, (read_text(path), file_mode(path))) for path in files),
                    services=self.services([params['front']] + params['backs'] + params['retire']))

    def run(self):
        self.check()
        current = self.read()
        if self.params['state'] == 'present':
            self.present(current)
        else:
            self.absent(current)
        changed = any(self.done.values())
        result = dict(self.done, changed=changed)
        if self.module._diff:
            result['diff'] = dict(before=self.describe(current), after=self.describe(self.read()) if not self.module.check_mode
                                  else self.after(current))
        self.module.exit_json(**result)

    # present ---------------------------------------------------------------------------------------------------
    def present(self, current):
        params, files, services = self.params, current['files'], current['services']
        configs = [item for item in params['configs'] if files[item['path']] != (item['text'], CONFIG_MODE)]
        units = [item for item in params['units'] if files[item['path']] != (item['text'], UNIT_MODE)]
        removed = [path for path in params['remove'] if files[path][0] is not None]
        foreign = [path for path in removed if not ours(files[path][0])]
        if foreign:
            self.module.fail_json(msg='refusing to remove files the collection did not write: %s' % ', '.join(foreign))
        front = services[params['front']]
        restart = bool(configs or units or params['restart'])
        self.done.update(written=[item['path'] for item in configs + units], removed=removed,
                         restarted=restart, enabled=not front['enabled'],
                         started=([] if restart or front['active'] else [params['front']])
                         + [name for name in params['backs'] if not services[name]['active']],
                         stopped=[name for name in params['retire'] if services[name]['active']])
        if current['directory_mode'] != DIRECTORY_MODE:
            self.done['written'].insert(0, params['directory'])
        self.validate(configs)
        if self.module.check_mode or not any(self.done.values()):
            return
        if not os.path.isdir(params['directory']):
            os.makedirs(params['directory'], DIRECTORY_MODE)
        os.chmod(params['directory'], DIRECTORY_MODE)
        if params['journal']:  # before any file changes: what the running resolvers serve
            write_file(self.module, params['journal']['path'], params['journal']['text'], CONFIG_MODE)
        for item in configs:  # the back ones come first in the list: the front names them
            write_file(self.module, item['path'], item['text'], CONFIG_MODE)
        for item in units:
            write_file(self.module, item['path'], item['text'], UNIT_MODE)
        if units:
            self.cmd.run(['systemctl', 'daemon-reload'])
        if self.done['enabled']:
            self.cmd.run(['systemctl', 'enable', params['front']])
        if restart:  # the back instances are PartOf= the front: they restart with it, reading their files again
            self.cmd.run(['systemctl', 'restart', params['front']])
        if self.done['started']:
            self.cmd.run(['systemctl', 'start', '--'] + self.done['started'])
        if self.done['stopped']:  # only now: the front no longer asks them
            self.cmd.run(['systemctl', 'stop', '--'] + self.done['stopped'])
        for path in removed:
            os.unlink(path)
        self.verify()

    def validate(self, configs):
        """Every configuration to write checked by dnsmasq first (in check mode too, when dnsmasq is installed), so
        a bad one changes nothing."""
        if not configs or (self.module.check_mode and not self.module.get_bin_path('dnsmasq')):
            return
        directory = self.params['directory'] if os.path.isdir(self.params['directory']) else None
        for item in configs:
            handle, temporary = tempfile.mkstemp(dir=directory, prefix='.wgsplit-check-')
            try:
                with os.fdopen(handle, 'w') as out:
                    out.write(item['text'])
                rc, out, err = self.cmd.run(['dnsmasq', '--test', '--conf-file=' + temporary], check=False)
            finally:
                os.unlink(temporary)
            if rc != 0:
                self.module.fail_json(msg='dnsmasq refuses the configuration for %s: %s' % (item['path'], (err or out).strip()),
                                      rc=rc)

    def verify(self):
        params = self.params
        services = self.services([params['front']] + params['backs'] + params['retire'])
        down = [name for name in [params['front']] + params['backs'] if not services[name]['active']]
        running = [name for name in params['retire'] if services[name]['active']]
        if down or running:
            self.module.fail_json(msg='after the change, not running: %s; still running: %s'
                                  % (', '.join(down) or 'none', ', '.join(running) or 'none'), **self.done)

    # absent ----------------------------------------------------------------------------------------------------
    def absent(self, current):
        params, files, services = self.params, current['files'], current['services']
        directory = params['directory']
        front = services[params['front']]
        in_directory = [os.path.join(directory, name) for name in sorted(os.listdir(directory))] if os.path.isdir(directory) else []
        journal = params['journal']['path'] if params['journal'] else None
        removed = [path for path in in_directory if path == journal or leftover(path) or ours(read_text(path))]
        kept = [path for path in in_directory if path not in removed]
        if os.path.isdir(directory) and not kept:
            removed.append(directory)
        removed += [item['path'] for item in params['units'] if ours(files[item['path']][0])]
        self.done.update(stopped=([params['front']] if front['active'] else [])
                         + [name for name in params['backs'] + params['retire'] if services[name]['active']],
                         disabled=front['enabled'], removed=removed)
        if kept:
            self.module.warn('%s keeps files the collection did not write: %s' % (directory, ', '.join(kept)))
        if self.module.check_mode:
            return
        if self.done['disabled']:
            self.cmd.run(['systemctl', 'disable', params['front']])
        if self.done['stopped']:
            self.cmd.run(['systemctl', 'stop', '--'] + self.done['stopped'])
        for path in self.done['removed']:
            if path == directory:
                os.rmdir(path)
            else:
                os.unlink(path)
        if any(item['path'] in self.done['removed'] for item in params['units']):
            self.cmd.run(['systemctl', 'daemon-reload'])

    # diff ------------------------------------------------------------------------------------------------------
    def describe(self, state):
        return dict(directory_mode=None if state['directory_mode'] is None else '%04o' % state['directory_mode'],
                    files=dict((path, text) for path, (text, _mode) in sorted(state['files'].items())),
                    services=dict((name, 'active' if value['active'] else 'inactive')
                                  for name, value in sorted(state['services'].items())))

    def after(self, current):
        """What a check run would leave."""
        params = self.params
        files = dict(current['files'])
        files.update((item['path'], (item['text'], CONFIG_MODE)) for item in params['configs'])
        files.update((item['path'], (item['text'], UNIT_MODE)) for item in params['units'])
        files.update((path, (None, None)) for path in self.done['removed'] if path in files)
        if params['state'] == 'absent':
            files.update((item['path'], (None, None)) for item in params['units'] if item['path'] in self.done['removed'])
        running = set([params['front']] + params['backs']) if params['state'] == 'present' else set()
        services = dict((name, dict(value, active=name in running)) for name, value in current['services'].items())
        directory_mode = None if params['directory'] in self.done['removed'] else current['directory_mode']
        return self.describe(dict(directory_mode=DIRECTORY_MODE if params['state'] == 'present' else directory_mode,
                                  files=files, services=services))
