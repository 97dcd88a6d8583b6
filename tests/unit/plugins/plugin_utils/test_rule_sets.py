"""wgsplit_rule_sets: named lists (inline or from files) referenced by clients, guarded against broken
downloads, and shared sets for the clients that reference the same lists with the same upstream."""
import os

import pytest

from ansible_collections.wgsplit.gateway.plugins.module_utils.canonical import Invalid
from ansible_collections.wgsplit.gateway.plugins.plugin_utils import rule_lists
from ansible_collections.wgsplit.gateway.plugins.plugin_utils.inventory import check_inventory
from ansible_collections.wgsplit.gateway.plugins.plugin_utils import network_sets, plan as plan_module
from ansible_collections.wgsplit.gateway.plugins.plugin_utils.plan import plan

from test_plan import DISCOVERY, SERVER, UPSTREAMS, chain, discovered

STREAMING = '# streaming services\nnetflix.com\n\nvideo.example.net   # trailing comment\n203.0.113.0/24\n2001:db8::/32\n'


def variables(clients, rule_sets, **settings):
    return dict(dict(dns_servers=['1.1.1.1'], upstreams=UPSTREAMS, clients=clients, rule_sets=rule_sets), **settings)


def reader(files):
    def read(path):
        if path not in files:
            raise Invalid('cannot be read (No such file or directory)')
        return files[path]
    return read


def checked(clients, rule_sets, files=None, previous=None, **settings):
    return check_inventory(variables(clients, rule_sets, **settings), SERVER, reader(files or {}), previous)


def client(name, address, upstream='us', **extra):
    return dict(dict(name=name, address=address, upstream=upstream), **extra)


LISTS = [dict(name='streaming', file='lists/streaming.txt'),
         dict(name='work', rules=[dict(type='domain', value='intranet.example', action='direct')])]
FILES = {'lists/streaming.txt': STREAMING}


def make(clients, rule_sets=None, files=None, previous=None, discovery=None):
    result = checked(clients, LISTS if rule_sets is None else rule_sets, FILES if files is None else files, previous)
    assert result['errors'] == []
    return plan(result, discovery or DISCOVERY)


def test_a_file_list_has_one_canonical_entry_per_line_and_takes_its_action():
    result = checked([], [dict(name='streaming', file='lists/streaming.txt', action='direct')], FILES)
    assert result['errors'] == []
    assert result['rule_sets']['streaming']['rules'] == [
        dict(type='domain', value='netflix.com', action='direct', enabled=True),
        dict(type='domain', value='video.example.net', action='direct', enabled=True),
        dict(type='ip', value='203.0.113.0/24', action='direct', enabled=True),
        dict(type='ip', value='2001:db8::/32', action='direct', enabled=True)]
    assert result['rule_sets']['streaming']['count'] == 4


def test_bad_lines_are_named_with_their_number_and_the_rest_counted():
    text = '\n'.join(['ok.example'] + ['bad domain %d.example' % number for number in range(8)] + ['10.0.0.1/8']) + '\n'
    errors = checked([], [dict(name='big', file='big.txt')], {'big.txt': text})['errors']
    assert errors[0] == "rule set 'big' file 'big.txt': line 2: bad domain: holds whitespace or a control character (U+0020)"
    assert len(errors) == 6 and errors[-1] == "rule set 'big' file 'big.txt': and 4 more bad lines"


def test_a_hostile_line_cannot_add_a_resolver_directive():
    errors = checked([], [dict(name='evil', file='evil.txt')], {'evil.txt': 'ok.example\rserver=/x/6.6.6.6\n'})['errors']
    assert errors == ["rule set 'evil' file 'evil.txt': line 1: bad domain: holds whitespace or a control character (U+000D)"]


def test_a_file_that_is_no_list_never_shows_its_content():
    # A path may name any file the controller can read (in AWX: the job's environment with its credentials).
    secret = 'AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY'
    text = 'HOME=/root\x00%s\x00\nroot:x:0:0:root:/root:/bin/bash\n%s\n' % (secret, secret)
    errors = checked([], [dict(name='env', file='/proc/self/environ')], {'/proc/self/environ': text})['errors']
    assert errors and not any('wJalr' in error or 'root:' in error or 'HOME' in error for error in errors), errors
    # A line that is one word (a password file, a token) or an address with host bits shows no part of itself.
    for text in ('Hunter2SuperSecret\n', '3f9a3f9a3f9a3f9a3f9a\n', '10.20.30.40/24\n'):
        errors = checked([], [dict(name='x', file='/home/awx/.vault_pass')], {'/home/awx/.vault_pass': text})['errors']
        assert errors and not any(part in error.lower() for error in errors
                                  for part in ('hunter2', '3f9a', '10.20')), errors


@pytest.mark.parametrize('text, previous, settings, message', [
    ('', None, {}, 'has no entries (an empty or failed download?): refused'),
    ('# only comments\n\n', None, {}, 'has no entries'),
    ('a.example\nb.example\nc.example\n', None, dict(rule_set_max_entries=2),
     'has 3 entries, more than wgsplit_rule_set_max_entries (2)'),
    ('a.example\nb.example\nc.example\n', 4, {}, 'has 3 entries, 4 when last applied: a change of more than 20% is refused'),
    ('a.example\nb.example\nc.example\nd.example\ne.example\nf.example\n', 4, {}, 'has 6 entries, 4 when'),
    ('a.example\nb.example\n', 4, dict(rule_set_max_change=0.25), 'a change of more than 25% is refused'),
    ('a.example\nb.exam', None, {}, 'does not end with a line break (a download cut short?): refused'),
    ('a.example\ncom\n', None, {}, 'line 2: domain: a top-level domain alone is not taken from a list'),
    ('0.0.0.0/0\n', None, {}, 'line 1: ip: a network this large is not taken from a list'),
    ('2000::/3\n', None, {}, 'line 1: ip: a network this large is not taken from a list'),
])
def test_a_list_file_that_looks_broken_is_refused(text, previous, settings, message):
    previous = {} if previous is None else {'ads': previous}
    errors = checked([], [dict(name='ads', file='ads.txt')], {'ads.txt': text}, previous, **settings)['errors']
    assert len(errors) == 1 and errors[0].startswith("rule set 'ads' file 'ads.txt': ") and message in errors[0]


def test_a_list_of_one_line_repeated_is_counted_as_one_entry_by_the_guard():
    # Ten entries last applied; a broken download repeating one of them ten times is a change of nine, not zero.
    errors = checked([], [dict(name='ads', file='ads.txt')], {'ads.txt': 'a.example\n' * 10}, {'ads': 10})['errors']
    assert errors == ["rule set 'ads' file 'ads.txt': has 1 entries, 10 when last applied: a change of more than 20% is"
                      " refused as a broken download (max_change of the list, or wgsplit_rule_set_max_change, accepts it)"]
    result = checked([], [dict(name='ads', file='ads.txt')], {'ads.txt': 'a.example\nA.example.\n10.0.0.0/24\n10.0.0.0/24\n'})
    assert result['errors'] == [] and result['rule_sets']['ads']['count'] == 2
    assert [rule['value'] for rule in result['rule_sets']['ads']['rules']] == ['a.example', '10.0.0.0/24']


def test_a_change_within_the_allowed_fraction_or_the_lists_own_is_taken():
    text = 'a.example\nb.example\nc.example\nd.example\ne.example\n'
    assert checked([], [dict(name='ads', file='ads.txt')], {'ads.txt': text}, {'ads': 5})['errors'] == []
    assert checked([], [dict(name='ads', file='ads.txt')], {'ads.txt': text}, {'ads': 6})['errors'] == []  # a sixth less
    own = [dict(name='ads', file='ads.txt', max_change=3)]
    assert checked([], own, {'ads.txt': 'a.example\n'}, {'ads': 4})['errors'] == []


def test_unreadable_files_unknown_lists_and_duplicates_are_named():
    rule_sets = [dict(name='gone', file='gone.txt'), dict(name='work', rules=[]), dict(name='work', rules=[])]
    errors = checked([client('alice', '10.8.0.2', rule_sets=['nowhere', 'work'])], rule_sets)['errors']
    assert errors == ["rule set 'gone' file 'gone.txt': cannot be read (No such file or directory)",
                      "rule set 'work': duplicate name",
                      "client 'alice': rule set 'nowhere' is not in wgsplit_rule_sets"]
    assert check_inventory(variables([], [dict(name='x', file='x.txt')]), SERVER)['errors'] == [
        "rule set 'x' file 'x.txt': cannot be read here (no directory to read list files from)"]


def test_a_client_whose_list_has_errors_is_not_blamed_for_naming_it():
    errors = checked([client('alice', '10.8.0.2', rule_sets=['gone'])], [dict(name='gone', file='gone.txt')])['errors']
    assert errors == ["rule set 'gone' file 'gone.txt': cannot be read (No such file or directory)"]


def test_clients_with_the_same_lists_and_upstream_share_their_sets():
    clients = [client('alice', ['10.8.0.2', 'fdcc::2'], rule_sets=['streaming', 'work']),
               client('bob', '10.8.0.3', rule_sets=['work', 'streaming']),
               client('carol', '10.8.0.4', upstream='eu', rule_sets=['streaming', 'work']),
               client('dave', '10.8.0.5', rule_sets=['streaming', 'work'], rules=[dict(type='domain', value='x.org')])]
    result = make(clients)
    names = [item['name'] for item in result['sets'] if item['type'] == 'hash:ip']
    shared_us = [name for name in names if name.startswith('wgs-L') and name.endswith(('-p4', '-p6', '-d4', '-d6'))]
    # us: proxy and direct, IPv4 and IPv6 (alice is dual-stack); eu: IPv4 only; dave (a domain of his own): his own.
    assert len(names) == len(set(names)) == 4 + 2 + 2
    assert len(shared_us) == 6 and 'wgs-dave-p4' in names and 'wgs-dave-d4' in names
    alice, bob = chain(result, 'wgs-alice')['rules'], chain(result, 'wgs-bob')['rules']
    alice_sets = set(rule['match_set'] for rule in alice if 'match_set' in rule)
    bob_sets = set(rule['match_set'] for rule in bob if 'match_set' in rule)
    assert bob_sets < alice_sets and all(name.endswith('4') for name in bob_sets)  # bob has no IPv6 address
    netflix = next(line for line in result['resolver']['lines'] if line.startswith('ipset=/netflix.com/'))
    assert len(netflix.split('/')[2].split(',')) == 2 + 1 + 1  # us (both families), eu, dave


def test_list_networks_are_matched_in_a_set_of_the_clients_family_only():
    result = make([client('bob', '10.8.0.3', rule_sets=['streaming'])])
    rules = chain(result, 'wgs-bob')['rules']
    assert [rule.get('destination') for rule in rules if rule.get('destination')] == []
    listed = [rule['match_set'] for rule in rules if rule.get('comment') == 'wgsplit bob proxy listed networks']
    assert [(item['name'], item['type'], item['members']) for item in result['sets'] if item['type'] == 'hash:net'
            and not item.get('counters')] == [(listed[0], 'hash:net', ['203.0.113.0/24'])]  # no IPv6 set: bob has none


def test_clients_of_the_same_lists_share_one_network_set_whatever_their_number():
    networks = [dict(type='ip', value='10.%d.%d.0/24' % (number // 256, number % 256)) for number in range(2000)]
    lists = [dict(name='big', rules=networks + [dict(type='ip', value='172.16.0.0/12', action='direct')])]
    clients = [client('c%d' % number, '10.8.0.%d' % (2 + number), rule_sets=['big'])
               for number in range(250)]
    result = make(clients, lists)
    listed = [item for item in result['sets'] if item['type'] == 'hash:net' and not item.get('counters')]
    # d4, p4, each once; the 2,000 /24s merged: 10.0.0.0/14, 10.4.0.0/15, ..., 10.7.192.0/20.
    merged = ['10.0.0.0/14', '10.4.0.0/15', '10.6.0.0/16', '10.7.0.0/17', '10.7.128.0/18', '10.7.192.0/20']
    assert [item['members'] for item in listed] == [['172.16.0.0/12'], merged]
    chains = [item for item in result['chains']['split_client'] if item['chain'].startswith('wgs-c')]
    assert len(chains) == 250
    assert all(len([rule for rule in item['rules'] if 'destination' in rule]) == 0 for item in chains)
    assert set(rule['match_set'] for item in chains for rule in item['rules'] if 'listed' in rule.get('comment', '')) == set(
        item['name'] for item in listed)
    assert all(item['name'] not in [limit['name'] for limit in result['set_limits']] for item in listed)


def test_the_resolver_records_each_file_lists_size_for_the_next_guard():
    result = make([client('bob', '10.8.0.3', rule_sets=['streaming'])])
    config = result['resolver']['config']
    assert '# wgsplit rule set streaming: 4 entries' in config.splitlines()
    assert rule_lists.previous_counts(config) == {'streaming': 4}
    shrunk = checked([client('bob', '10.8.0.3', rule_sets=['streaming'])], LISTS, {'lists/streaming.txt': 'a.example\n'},
                     rule_lists.previous_counts(config))
    assert shrunk['errors'] == ["rule set 'streaming' file 'lists/streaming.txt': has 1 entries, 4 when last applied: a"
                                " change of more than 20% is refused as a broken download (max_change of the list, or"
                                " wgsplit_rule_set_max_change, accepts it)"]


def test_shared_set_names_are_stable_whichever_clients_come_and_go():
    one = make([client('alice', '10.8.0.2', rule_sets=['streaming'])])
    two = make([client('bob', '10.8.0.3', rule_sets=['streaming']), client('alice', '10.8.0.2', rule_sets=['streaming'])])
    assert [item for item in one['sets'] if item['type'] == 'hash:ip'] == [item for item in two['sets'] if item['type'] == 'hash:ip']


def test_read_file_takes_relative_paths_from_the_base_directory(tmp_path):
    (tmp_path / 'lists').mkdir()
    (tmp_path / 'lists' / 'a.txt').write_bytes('straße.de\n'.encode('utf-8'))
    assert rule_lists.read_file(str(tmp_path), 'lists/a.txt') == 'straße.de\n'
    (tmp_path / 'bin.txt').write_bytes(b'\xff\xfe')
    with pytest.raises(Invalid, match='is not UTF-8 text'):
        rule_lists.read_file(str(tmp_path), 'bin.txt')
    with pytest.raises(Invalid, match='cannot be read'):
        rule_lists.read_file(str(tmp_path), 'missing.txt')
    os.mkfifo(str(tmp_path / 'fifo'))  # a read would wait for a writer forever
    with pytest.raises(Invalid, match='is not a regular file'):
        rule_lists.read_file(str(tmp_path), 'fifo')


def test_removing_every_reference_removes_the_shared_sets():
    before = make([client('alice', '10.8.0.2', rule_sets=['streaming'])])
    names = [item['name'] for item in before['sets'] if item['type'] == 'hash:ip']
    persisted = discovered(ipsets=dict(names=names, persisted=names))
    after = make([client('alice', '10.8.0.2')], discovery=persisted)
    assert sorted(after['removed']['sets']) == sorted(names)


def test_a_shared_set_never_takes_a_client_sets_name():
    shared = make([client('alice', '10.8.0.2', rule_sets=['streaming'])])
    base = shared['sets'][0]['name'].rsplit('-', 1)[0]  # wgs-L<digest> (the client sets come first)
    lookalike = base[len('wgs-'):].lower()
    result = make([client('alice', '10.8.0.2', rule_sets=['streaming']),
                   client(lookalike, '10.8.0.3', rules=[dict(type='domain', value='bank.example', action='direct')])])
    names = [item['name'] for item in result['sets'] if item['type'] == 'hash:ip']
    assert len(names) == len(set(names)) and 'wgs-%s-d4' % lookalike in names


def test_a_list_set_larger_than_set_maxelem_gets_the_next_power_of_two_so_a_few_more_lines_keep_it():
    assert plan_module.list_set_maxelem(65536, 100) == 65536
    assert plan_module.list_set_maxelem(65536, 70000) == plan_module.list_set_maxelem(65536, 70100) == 131072


def test_two_combinations_of_lists_whose_set_names_meet_are_refused(monkeypatch):
    monkeypatch.setattr(network_sets, 'set_name', lambda prefix, lists, action, version: 'wgs-Nsame-%s%d' % (action[0], version))
    lists = [dict(name='a', rules=[dict(type='ip', value='192.0.2.0/24')]), dict(name='b', rules=[dict(type='ip', value='198.51.100.0/24')])]
    result = checked([client('bob', '10.8.0.3', rule_sets=['a']), client('carol', '10.8.0.4', rule_sets=['b'])], lists)
    errors = plan(result, DISCOVERY)['errors']
    assert 'rule lists a and b would share the set wgs-Nsame-p4: rename one of the lists' in errors
