"""resolver: the resolver's files as the plan renders them, and what a run must do about what is in place."""
import pytest

from ansible_collections.wgsplit.gateway.plugins.plugin_utils import resolver

SETTINGS = dict(server_interface='wg0', resolver_cache_size=10000, resolver_max_ttl=300, dns_servers=['192.0.2.53'])
CONFIG = resolver.config_text(SETTINGS, ['ipset=/example.com/wgs-alice-p4'])
IN_PLACE = dict(config=CONFIG, config_mode='0600', config_dir_mode='0700', unit=resolver.UNIT_TEXT,
                enabled=True, active=True)


def test_stale_sets_are_those_that_lost_a_domain():
    old = 'ipset=/google.com/wgs-alice-p4,wgs-bob-p4\nipset=/x.org/wgs-bob-p4\nserver=/x.org/#\n'
    assert resolver.stale_sets(old, ['ipset=/google.com/wgs-alice-p4,wgs-bob-p4', 'ipset=/y.org/wgs-bob-p4']) == ['wgs-bob-p4']
    assert resolver.stale_sets(old, ['ipset=/google.com/wgs-alice-p4', 'ipset=/x.org/wgs-bob-p4']) == ['wgs-bob-p4']
    grown = ['ipset=/google.com/wgs-alice-p4,wgs-bob-p4', 'ipset=/x.org/wgs-bob-p4', 'ipset=/z.org/wgs-bob-p4']
    assert resolver.stale_sets(old, grown) == []
    assert resolver.stale_sets(None, ['ipset=/google.com/wgs-alice-p4']) == []


def test_a_more_specific_rule_added_empties_the_set_its_names_were_fed_to():
    old = 'ipset=/example.com/wgs-alice-d4\n'
    # sub.example.com's addresses were in the direct set (its parent's line); now they go to the proxy set only.
    assert resolver.stale_sets(old, ['ipset=/example.com/wgs-alice-d4', 'ipset=/sub.example.com/wgs-alice-p4']) == \
        ['wgs-alice-d4']
    # A more specific line that still feeds the parent's sets takes nothing away.
    assert resolver.stale_sets(old, ['ipset=/example.com/wgs-alice-d4', 'ipset=/sub.example.com/wgs-alice-d4,wgs-bob-p4']) == []


def test_config_carries_the_marker_and_the_lines():
    lines = CONFIG.splitlines()
    assert resolver.written_by_us(CONFIG)
    assert lines[0] == resolver.MARKER and lines[-1] == 'ipset=/example.com/wgs-alice-p4'
    assert 'interface=wg0' in lines and 'server=192.0.2.53' in lines
    assert not resolver.written_by_us('interface=wg0\nbind-dynamic\n')


def test_unit_runs_the_planned_config():
    assert 'ExecStart=/usr/sbin/dnsmasq --keep-in-foreground --conf-file=%s\n' % resolver.RESOLVER_CONFIG in resolver.UNIT_TEXT
    assert resolver.UNIT_TEXT.startswith('# Written by wgsplit.gateway')


def test_nothing_to_do_when_everything_is_in_place():
    planned = resolver.files(IN_PLACE, CONFIG)
    assert (planned['write_config'], planned['write_unit'], planned['start']) == (False, False, False)


@pytest.mark.parametrize('drift, expected', [
    (dict(config=None, config_mode=None, config_dir_mode=None), (True, False, False)),
    (dict(config=CONFIG + 'address=/x/1.2.3.4\n'), (True, False, False)),
    (dict(config_mode='0644'), (True, False, False)),
    (dict(config_dir_mode='0755'), (True, False, False)),
    (dict(unit=None), (False, True, True)),
    (dict(unit=resolver.UNIT_TEXT.replace('NoNewPrivileges=yes\n', '')), (False, True, True)),
    (dict(enabled=False), (False, False, True)),
    (dict(active=False), (False, False, True)),
])
def test_each_drift_is_repaired(drift, expected):
    planned = resolver.files(dict(IN_PLACE, **drift), CONFIG)
    assert (planned['write_config'], planned['write_unit'], planned['start']) == expected


def test_removal_plans_only_the_paths():
    planned = resolver.files(IN_PLACE, None)
    assert planned['config'] is None and planned['unit'] is None and not planned['start'] and planned['stop']
    assert not resolver.files(dict(unit=None, active=False), None)['stop']
    assert planned['unit_path'] == '/etc/systemd/system/wgsplit-resolver.service'
