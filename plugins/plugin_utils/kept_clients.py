# -*- coding: utf-8 -*-
# Copyright: (c) 2026, wgsplit.gateway developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Clients kept on the gateway, beside the inventory's: what playbooks/client.yml (an AWX job template with a
survey) adds, changes, disables or removes one at a time. Each is a file /etc/wgsplit/clients/NAME.json holding
the client's entry in the inventory's format, canonical; every run reads them back (split_info) and checks them as
it checks the inventory, so a hand-edited file is held to the same rules.

The edit arrives as the survey's answers (`wgsplit_edit_*`, plain text): addresses and lists separated by commas or
spaces, rules one per line (`example.com`, `direct 192.0.2.0/24`); a blank answer keeps what a kept client had, `-`
empties it."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress
import json
import re

from ansible_collections.wgsplit.gateway.plugins.module_utils.canonical import Invalid, describe, type_name
from ansible_collections.wgsplit.gateway.plugins.module_utils.netstate import CLIENTS_DIR
from ansible_collections.wgsplit.gateway.plugins.plugin_utils.settings import EDIT_VARIABLES

EDIT_STATES = ('present', 'disabled', 'absent')
# The survey's words for a rule's action (the rule is then checked as the inventory's are).
ACTIONS = ('proxy', 'direct')
SEPARATORS = re.compile(r'[\s,]+')


def edit_variables(variables):
    """{field: answer} of the edit's `wgsplit_edit_*` variables (without their prefix); empty: no edit."""
    return dict((name[len('edit_'):], variables[name]) for name in EDIT_VARIABLES if variables.get(name) is not None)


def text(value):
    if not isinstance(value, str):
        raise Invalid('must be text or a list, not %s' % type_name(value))
    return value


def words(value):
    """A survey's list answer: a list as is, text split at commas and whitespace."""
    if isinstance(value, list):
        return value
    return [word for word in SEPARATORS.split(text(value)) if word]


def survey_rules(value):
    """Rules from a text answer, one per line: `VALUE` (proxied) or `proxy|direct VALUE`; `#` starts a comment.
    A value that parses as an address or network is an ip rule, anything else a domain rule."""
    if isinstance(value, list):
        return value
    rules = []
    for number, line in enumerate(text(value).splitlines()):
        parts = line.split('#', 1)[0].split()
        if not parts:
            continue
        if len(parts) > 2 or (len(parts) == 2 and parts[0] not in ACTIONS):
            raise Invalid('line %d %s is not "VALUE" or "proxy|direct VALUE"' % (number + 1, describe(line.strip())))
        action, rule_value = (parts[0], parts[1]) if len(parts) == 2 else ('proxy', parts[0])
        rules.append(dict(type='ip' if is_network(rule_value) else 'domain', value=rule_value, action=action))
    return rules


def is_network(text):
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def edited_entry(edit, name_pattern, kept):
    """(name, raw client entry or None for absent) of an edit, on top of what is kept for that name (`kept`: its
    entry or None): an answer left blank keeps what the client had, `-` empties a field. Raises Invalid naming the
    field."""
    name = edit.get('name')
    if not isinstance(name, str) or not name_pattern.fullmatch(name):
        raise Invalid('wgsplit_edit_name %s must be a client name (1 to 24 of a-z 0-9 _ -)' % describe(name))
    state = edit.get('state', 'present')
    if state not in EDIT_STATES:
        raise Invalid('wgsplit_edit_state %s must be one of %s' % (describe(state), ', '.join(EDIT_STATES)))
    if state == 'absent':
        return name, None
    entry = dict(kept or {}, name=name, enabled=state == 'present')
    for field, parse in (('address', words), ('rule_sets', words), ('rules', survey_rules),
                         ('public_key', None), ('upstream', None), ('default_action', None)):
        answer = edit.get(field)
        # Blank, or blank-looking (a line feed, spaces, a comment alone): only `-` empties a field, never a slip.
        if answer is None or (isinstance(answer, str) and not answer.strip()):
            continue
        if answer == '-':
            entry.pop(field, None)
            continue
        try:
            parsed = parse(answer) if parse else answer
        except Invalid as error:
            raise Invalid('wgsplit_edit_%s: %s' % (field, error))
        if parsed != []:
            entry[field] = parsed
    return name, entry


def kept_entries(checker, variables, found, inventory_names, name_pattern):
    """[(label, raw entry)] of the clients kept on the gateway with the edit applied, and {name: None} for an entry
    the edit removes. `found`: {name: file text} (split_info's `kept_clients`)."""
    entries, removed = {}, {}
    edit = edit_variables(variables)
    removing = edit.get('state') == 'absent' and isinstance(edit.get('name'), str)
    if removing and edit['name'] in found:
        # A kept file goes whatever it holds or is named (a broken file, a name the inventory took since).
        removed[edit['name']] = None
        found = dict((name, text) for name, text in found.items() if name != edit['name'])
        edit = {}
    elif removing and edit['name'] not in inventory_names:
        # A mistyped name removes nothing: said, not passed over in silence.
        checker.warnings.append('client %s is not kept on the gateway: nothing to remove (kept: %s)'
                                % (describe(edit['name']), ', '.join(sorted(found)) or 'none'))
    for name, text in sorted(found.items()):
        try:
            raw = json.loads(text)
        except (TypeError, ValueError) as error:  # unreadable (None), or no JSON
            raw = error
        if not isinstance(raw, dict):
            if name != edit.get('name'):  # an edit of it replaces what its file holds
                checker.error('client %r (kept on the gateway)' % name, 'its file is not a client entry (%s): remove it'
                              ' with playbooks/client.yml -e wgsplit_edit_state=absent' % describe(str(raw))[:80])
            continue
        entries[name] = raw
    if edit:
        try:
            name, entry = edited_entry(edit, name_pattern, entries.get(edit.get('name')))
        except Invalid as error:
            checker.errors.append(str(error))
            return [], {}
        if name in inventory_names:
            checker.error('client %r' % name, 'is in the inventory (wgsplit_clients): edit it there')
        elif entry is None:
            entries.pop(name, None)
        else:
            entries[name] = entry
    for name in sorted(entries):
        if name in inventory_names:
            checker.error('client %r (kept on the gateway)' % name, 'is in the inventory too: remove one of them (the kept'
                          ' one with playbooks/client.yml -e wgsplit_edit_state=absent)')
    return [('client %r (kept on the gateway)' % name, dict(entries[name], name=name)) for name in sorted(entries)], removed


def content(client):
    """A kept client's file: its canonical entry (as checked, before the peer's addresses are added)."""
    fields = ('name', 'address', 'public_key', 'upstream', 'upstream_enabled', 'enabled', 'default_action', 'rules', 'rule_sets')
    entry = dict((field, client[field]) for field in fields if client.get(field) is not None)
    return json.dumps(entry, indent=1, sort_keys=True) + '\n'


def files(kept, found, state):
    """The kept clients' part of the plan: files to write (their content differs from what split_info found) and to
    remove (an entry the edit removed; every one with `absent`). `kept`: {name: content or None} of the check."""
    def path(name):
        return '%s/%s.json' % (CLIENTS_DIR, name)
    if state != 'present':
        return dict(directory=CLIENTS_DIR, write=[], remove=[path(name) for name in sorted(found)] + [CLIENTS_DIR])
    return dict(directory=CLIENTS_DIR,
                write=[dict(path=path(name), content=text) for name, text in sorted(kept.items())
                       if text is not None and found.get(name) != text],
                remove=[path(name) for name, text in sorted(kept.items()) if text is None and name in found])
