# -*- coding: utf-8 -*-
# Copyright: (c) 2026, wgsplit.gateway developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A front dnsmasq and its back instances under systemd (module dnsmasq_instances): their files written and their
services started, restarted and stopped in the one order a change of them needs, in one call.

Make before break: the configurations are all checked by dnsmasq before any is written, the journal is written
before them, the instances that read a changed file start or restart once every new file is in place, the front
last, and the instances it no longer asks stop only after that. A run stopped after the journal is written leaves
it, so the next one restarts the resolvers, the front stopped first; one stopped before leaves the files as they
were (the front and a reused back maybe stopped and not started at boot: their names unanswered)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import re
import tempfile

from ansible_collections.wgsplit.gateway.plugins.module_utils.netstate import (
    ENABLED, STOPPED, Commands, boot_link, link_instance, linked_instances, read_text, unit_instance_prefix,
    unlink_instance, write_file)

CONFIG_MODE, DIRECTORY_MODE, UNIT_MODE = 0o600, 0o700, 0o644
MARKER = 'wgsplit.gateway'  # in the first two lines of every file the collection writes
DNSMASQ = '/usr/sbin/dnsmasq'  # the units' own: the check runs what they will run
UNIT_NAME = re.compile(r'^[A-Za-z0-9:_.-]+(@[A-Za-z0-9:_.-]*)?\.service$')
TEMPLATE_NAME = re.compile(r'^[A-Za-z0-9:_.-]+@\.service$')
PROPERTIES = ('LoadState', 'ActiveState', 'UnitFileState', 'NeedDaemonReload')

FILE = dict(path=dict(type='path', required=True), text=dict(type='str'))
ARGUMENTS = dict(argument_spec=dict(
    state=dict(type='str', choices=['present', 'absent'], default='present'),
    directory=dict(type='path', required=True),
    # `restarts`: the services that read the file (None: the front).
    configs=dict(type='list', elements='dict', default=[], options=dict(FILE, restarts=dict(type='list', elements='str'))),
    units=dict(type='list', elements='dict', default=[], options=dict(FILE, restarts=dict(type='list', elements='str'))),
    front=dict(type='str', required=True),
    backs=dict(type='list', elements='str', default=[]),
    retire=dict(type='list', elements='str', default=[]),
    remove=dict(type='list', elements='path', default=[]),
    journal=dict(type='dict', options=dict(FILE, keep=dict(type='bool', default=True))),
    restart=dict(type='bool', default=False),
    back_template=dict(type='path'),
))


def ours(text):
    """Whether a file's text carries the collection's marker (in its first two lines: the first resolver
    configuration the collection wrote had it under '# Ansible managed')."""
    return text is not None and MARKER in '\n'.join(text.splitlines()[:2])


def leftover(path):
    """A temporary file of a write this module did not finish (netstate.write_file's)."""
    return os.path.basename(path).startswith('.wgsplit-')


def file_mode(path):
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return None


def parse_show(output, names):
    """{unit: {'load', 'active', 'enabled', 'reload'}} from `systemctl show --property=...` of `names` (one block
    each, in their order)."""
    blocks = [dict(line.split('=', 1) for line in block.splitlines() if '=' in line)
              for block in output.strip().split('\n\n')] if output.strip() else []
    if len(blocks) != len(names):
        raise ValueError('systemctl show gave %d blocks for %d units' % (len(blocks), len(names)))
    return dict((name, dict(load=block.get('LoadState', ''), active=block.get('ActiveState') not in STOPPED,
                            enabled=block.get('UnitFileState') in ENABLED, reload=block.get('NeedDaemonReload') == 'yes'))
                for name, block in zip(names, blocks))


class DnsmasqInstances:
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.cmd = Commands(module)
        self.done = dict(written=[], removed=[], started=[], stopped=[], restarted=False, restarted_backs=[], reused=[],
                         enabled=[], disabled=[], reloaded=False)

    def fail(self, msg, **result):
        """Fail with what the call already changed."""
        self.module.fail_json(msg=msg, **dict(self.done, **result))

    def systemctl(self, *argv):
        rc, out, err = self.cmd.run(['systemctl'] + list(argv), check=False)
        if rc != 0:
            self.fail('systemctl %s failed (rc=%d): %s' % (' '.join(argv), rc, (err or out).strip()), rc=rc)
        return out

    def to_run(self):
        """The services that must run: the front and the backs it asks."""
        return [self.params['front']] + self.params['backs']

    def unit_names(self):
        """Every service the call names: those to run, and the backs to stop."""
        return self.to_run() + self.params['retire']

    def enabled(self, name, service):
        """Whether a service starts at boot: the front in any way systemd has; a back by its link to back_template
        (read on the disk: an instance pulled in by an older front is 'static' to systemd, not enabled here)."""
        return service['enabled'] if name == self.params['front'] else service['linked']

    def check(self):
        params, directory = self.params, self.params['directory']
        bad = [name for name in self.unit_names() if not UNIT_NAME.match(name)]
        bad += [item['path'] for item in params['units'] if not UNIT_NAME.match(os.path.basename(item['path']))]
        if bad:
            self.fail('not a service unit name: %s' % ', '.join(bad))
        inside = [item['path'] for item in params['configs']] + params['remove']
        inside += [params['journal']['path']] if params['journal'] else []
        outside = [path for path in inside if os.path.dirname(path) != directory]
        if outside:
            self.fail('not a file of directory %s: %s' % (directory, ', '.join(outside)))
        if os.path.islink(directory):
            self.fail('%s is a symbolic link: the collection writes only a directory of its own' % directory)
        if params['state'] == 'present':
            missing = [item['path'] for item in params['configs'] + params['units'] + [params['journal'] or {}]
                       if item and item.get('text') is None]
            if missing:
                self.fail('no text given for %s' % ', '.join(missing))
        retired = set(params['retire']) & set(self.to_run())
        if retired:
            self.fail('units both wanted and retired: %s' % ', '.join(sorted(retired)))
        unknown = [item['path'] for item in params['configs'] + params['units']
                   if not set(item['restarts'] or []) <= set(self.to_run())]
        if unknown:
            self.fail('restarts a service that is neither front nor one of backs: %s' % ', '.join(unknown))
        backs = params['backs'] + params['retire']
        template = params['back_template']
        if backs and (template is None or not os.path.isabs(template) or not TEMPLATE_NAME.match(os.path.basename(template))):
            self.fail('backs and retire need back_template, the template unit file they are instances of')
        strangers = [name for name in backs if not name.startswith(unit_instance_prefix(os.path.basename(template)))]
        if strangers:
            self.fail('not instances of %s: %s' % (template, ', '.join(strangers)))
        # systemd reads a boot link by its name: one there that is not a link is not the collection's to replace.
        blocked = [name for name in backs if os.path.lexists(boot_link(template, name)) and not os.path.islink(boot_link(template, name))]
        if blocked:
            self.fail('not a link, so not the collection\'s to replace or remove: %s' % ', '.join(boot_link(template, name) for name in blocked))

    def services(self, names):
        if not names:
            return {}
        output = self.systemctl('show', '--property=' + ','.join(PROPERTIES), '--', *names)
        try:
            return parse_show(output, names)
        except ValueError as error:
            self.fail(str(error), stdout=output)

    def read(self):
        params = self.params
        directory = params['directory']
        files = [item['path'] for item in params['configs'] + params['units']] + params['remove']
        files += [params['journal']['path']] if params['journal'] else []
        try:
            owner = os.stat(directory)
            directory_state = (owner.st_mode & 0o7777, owner.st_uid, owner.st_gid)
        except OSError:
            directory_state = None
        services = self.services(self.unit_names())
        linked = linked_instances(params['back_template']) if params['back_template'] else []
        for name, service in services.items():
            service['linked'] = name in linked
        return dict(directory=directory_state, files=dict((path, (read_text(path), file_mode(path))) for path in files),
                    services=services)

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
        configs = [item for item in params['configs'] if files[item['path']][0] != item['text']]
        units = [item for item in params['units'] if files[item['path']][0] != item['text']]
        # A file whose mode alone differs: fixed without a restart (the mode changes nothing dnsmasq or systemd reads).
        modes = [(item, mode) for items, mode in ((params['configs'], CONFIG_MODE), (params['units'], UNIT_MODE))
                 for item in items if files[item['path']][0] == item['text'] and files[item['path']][1] != mode]
        removed = [path for path in params['remove'] if files[path][0] is not None]
        foreign = [path for path in removed + [item['path'] for item in configs + units]
                   if files[path][0] is not None and not ours(files[path][0])]
        if foreign:
            self.fail('refusing to replace or remove files the collection did not write: %s' % ', '.join(foreign))
        masked = [name for name, value in services.items() if value['load'] == 'masked' and name not in params['retire']]
        if masked:
            self.fail('masked, so it cannot run: %s (systemctl unmask it, or remove the resolver)' % ', '.join(masked))
        front = services[params['front']]
        # Each running service that reads a changed file restarts; one that does not run starts, reading them all.
        restarts = set(self.to_run()) if params['restart'] else set()
        for item in configs + units:
            restarts.update(item['restarts'] if item['restarts'] is not None else [params['front']])
        # A back whose own file in place changes (its number reused: every one was in use) changes meaning, running or
        # not. So that the front never asks it with the other one, before any file is written the front stops, then
        # that back, and its link goes (a reboot before the front's file is written starts neither: its names go
        # unanswered); it starts, linked again, before the front starts last. So too for a run that finds the journal
        # (restart), which restarts them all.
        reused = [name for name in params['backs'] if any(
            name in (item['restarts'] or []) and (services[name]['active'] or files[item['path']][0] is not None)
            for item in configs)]
        halt = bool(reused or params['restart']) and front['active']
        pending = any(value['reload'] for value in services.values())  # a unit changed on disk: systemd asks a reload
        restart = params['front'] in restarts and front['active']
        journal = params['journal']
        written = [journal['path']] if journal and (configs or units) else []
        # Removed at the call's end when nothing after it in the run needs it (the caller says so).
        finished = [journal['path']] if journal and not journal['keep'] and (written or files[journal['path']][0] is not None) else []
        if current['directory'] != (DIRECTORY_MODE, 0, 0):
            written.insert(0, params['directory'])
        retired = params['retire']
        enabled = [name for name in self.to_run() if not self.enabled(name, services[name])]
        self.done.update(written=written + [item['path'] for item in configs + units] + [item['path'] for item, _mode in modes],
                         removed=removed + finished,
                         restarted=restart or halt,
                         restarted_backs=[name for name in params['backs'] if name in restarts and services[name]['active']],
                         reloaded=bool(units) or params['front'] in enabled or pending,
                         started=[name for name in params['backs'] if not services[name]['active']]
                         + ([] if front['active'] else [params['front']]),
                         reused=reused, enabled=enabled,
                         stopped=[name for name in retired if services[name]['active']],
                         disabled=[name for name in retired if services[name]['linked']])
        self.validate(configs)
        if self.module.check_mode or not any(self.done.values()):
            return
        self.make_directory()
        if pending:  # first: what stops below is what systemd will have
            self.systemctl('daemon-reload')
        # Halted, the front is not started at boot either until its file is written: a reboot midway answers nothing.
        rearm = halt and front['enabled']
        halted = ([params['front']] if halt else []) + [name for name in reused if services[name]['active']]
        if halted:
            self.systemctl('stop', '--', *halted)
        if rearm:
            self.systemctl('disable', '--no-reload', params['front'])
        relinked = [name for name in reused if services[name]['linked']]
        self.links(unlink_instance, relinked)
        if journal and journal['path'] in written:  # before any file changes: what the running resolvers serve
            write_file(self.module, journal['path'], journal['text'], CONFIG_MODE)
        for item in configs:  # the back ones come first in the list: the front names them
            write_file(self.module, item['path'], item['text'], CONFIG_MODE)
        for item in units:
            write_file(self.module, item['path'], item['text'], UNIT_MODE)
        for item, mode in modes:
            write_file(self.module, item['path'], item['text'], mode)
        if params['front'] in enabled or rearm:  # before the reload, which then reads its link too
            self.systemctl('enable', '--no-reload', params['front'])
        if units or params['front'] in enabled or rearm:
            self.systemctl('daemon-reload')
        # The backs' links are made here, not by systemctl enable: the manager need not know them before the next boot,
        # and asking it would flag every unit as changed on disk (systemd 255 and later) until a reload.
        self.links(link_instance, [name for name in enabled if name != params['front']] + relinked)
        # The new back instances first, then the backs that restart, then the front, which asks them from then on.
        # Only the front restarts for an edit: the backs whose files did not change keep running (nothing binds them to
        # it). A front that did not run, or was stopped first, starts last.
        new = [name for name in self.done['started'] if name != params['front']]
        if new:
            self.systemctl('start', '--', *new)
        if self.done['restarted_backs']:
            self.systemctl('restart', '--', *self.done['restarted_backs'])
        if restart and not halt:
            self.systemctl('restart', params['front'])
        if halt or not front['active']:
            self.systemctl('start', params['front'])
        if self.done['stopped']:  # only now: the front no longer asks them
            self.systemctl('stop', '--', *self.done['stopped'])
        self.links(unlink_instance, self.done['disabled'])
        for path in removed:
            os.unlink(path)
        self.verify()
        for path in finished:  # only once every service is as wanted: a failure leaves it for the next run
            os.unlink(path)

    def links(self, change, names):
        """Make or remove the boot links of back instances (link_instance, unlink_instance)."""
        for name in names:
            try:
                change(self.params['back_template'], name)
            except OSError as error:
                self.fail('boot link of %s: %s' % (name, error))

    def make_directory(self):
        directory = self.params['directory']
        if not os.path.isdir(directory):
            os.makedirs(directory, DIRECTORY_MODE)
        os.chown(directory, 0, 0)  # root's alone: dnsmasq reads these files as root
        os.chmod(directory, DIRECTORY_MODE)

    def validate(self, configs):
        """Every configuration to write checked by dnsmasq first (in check mode too, when dnsmasq is installed), so
        a bad one changes nothing. The copies checked are in the system's temporary directory, never in ours."""
        if not configs or (self.module.check_mode and not os.path.exists(DNSMASQ)):
            return
        for item in configs:
            handle, temporary = tempfile.mkstemp(prefix='wgsplit-check-', suffix='.conf')
            try:
                with os.fdopen(handle, 'w') as out:
                    out.write(item['text'])
                rc, out, err = self.module.run_command([DNSMASQ, '--test', '--conf-file=' + temporary])
            finally:
                os.unlink(temporary)
            if rc != 0:
                self.fail('dnsmasq refuses the configuration for %s: %s' % (item['path'], (err or out).strip()), rc=rc)

    def verify(self):
        params = self.params
        services = self.services(self.unit_names())
        down = [name for name in self.to_run() if not services[name]['active']]
        running = [name for name in params['retire'] if services[name]['active']]
        if down or running:
            self.fail('after the change, not running: %s; still running: %s'
                      % (', '.join(down) or 'none', ', '.join(running) or 'none'))

    # absent ----------------------------------------------------------------------------------------------------
    def absent(self, current):
        params, files, services = self.params, current['files'], current['services']
        directory = params['directory']
        front = services[params['front']]
        in_directory = [os.path.join(directory, name) for name in sorted(os.listdir(directory))] if os.path.isdir(directory) else []
        journal = params['journal']['path'] if params['journal'] else None
        removed = [path for path in in_directory
                   if os.path.isfile(path) and (path == journal or leftover(path) or ours(read_text(path)))]
        kept = [path for path in in_directory if path not in removed]
        if os.path.isdir(directory) and not kept:
            removed.append(directory)
        removed += [item['path'] for item in params['units'] if ours(files[item['path']][0])]
        # A masked back's link is ours all the same (systemctl would refuse to disable a masked front).
        self.done.update(stopped=[name for name in self.unit_names() if services[name]['active']],
                         disabled=[name for name in self.unit_names() if self.enabled(name, services[name])
                                   and (name != params['front'] or front['load'] != 'masked')], removed=removed)
        if kept:
            self.module.warn('%s keeps files the collection did not write: %s' % (directory, ', '.join(kept)))
        if self.module.check_mode:
            return
        if params['front'] in self.done['disabled']:  # while its unit is there (a link is found by the unit's file)
            self.systemctl('disable', '--no-reload', params['front'])
        self.links(unlink_instance, [name for name in self.done['disabled'] if name != params['front']])
        if self.done['stopped']:
            self.systemctl('stop', '--', *self.done['stopped'])
        for path in self.done['removed']:
            if path == directory:
                os.rmdir(path)
            else:
                os.unlink(path)
        if params['front'] in self.done['disabled'] or any(item['path'] in self.done['removed'] for item in params['units']):
            self.systemctl('daemon-reload')

    # diff ------------------------------------------------------------------------------------------------------
    def describe(self, state):
        return dict(directory=None if state['directory'] is None else '%04o %d:%d' % state['directory'],
                    files=dict((path, text) for path, (text, _mode) in sorted(state['files'].items())),
                    services=dict((name, '%s, %s at boot' % ('running' if value['active'] else 'stopped',
                                                             'enabled' if self.enabled(name, value) else 'disabled'))
                                  for name, value in sorted(state['services'].items())))

    def after(self, current):
        """What a check run would leave."""
        params = self.params
        present = params['state'] == 'present'
        files = dict(current['files'])
        files.update((item['path'], (item['text'], CONFIG_MODE)) for item in params['configs'])
        files.update((item['path'], (item['text'], UNIT_MODE)) for item in params['units'] if present)
        journal = params['journal']
        if journal and journal['path'] in self.done['written']:
            files[journal['path']] = (journal['text'], CONFIG_MODE)
        files.update((path, (None, None)) for path in self.done['removed'] if path in files)
        running = set(self.to_run()) if present else set()
        services = dict((name, dict(value, active=name in running, enabled=name in running, linked=name in running))
                        for name, value in current['services'].items())
        directory = (DIRECTORY_MODE, 0, 0) if present else None if params['directory'] in self.done['removed'] else current['directory']
        return self.describe(dict(directory=directory, files=files, services=services))
