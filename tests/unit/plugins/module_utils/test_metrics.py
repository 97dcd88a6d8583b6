"""The figures a gateway reports (split_info, status, the metrics exporter): parsers of the kernel's output, what
counts as healthy, each client's bytes per path, and the exporter's textfile."""
import json
import os
import re

import pytest
from hypothesis import given, strategies as st

from ansible_collections.wgsplit.gateway.plugins.module_utils import metrics

DUMP = 'PRIVATE\tPUBLIC\t0\toff\nPEER\t(none)\t192.0.2.1:51820\t0.0.0.0/0\t1000\t2048\t4096\t25\n'
HEADERS = ('Name: wgs-alice-p4\nType: hash:ip\nHeader: family inet hashsize 1024 maxelem 65536 timeout 86400\n'
           'Size in memory: 280\nReferences: 1\nNumber of entries: 12\n\nName: wgs-A-sent-up4\nType: hash:net,iface\n'
           'Header: family inet hashsize 1024 maxelem 65536 counters bucketsize 12 initval 0x1c6e9958\n'
           'Number of entries: 2\n\nName: other\nType: hash:net\nNumber of entries: 0\n'
           'Name: wgs-A-sent-up6\nType: hash:net,iface\nHeader: family inet6 counters\nNumber of entries: 1\n')
SENT_UP = ('create wgs-A-sent-up4 hash:net,iface family inet hashsize 1024 maxelem 65536 counters\n'
           'add wgs-A-sent-up4 10.8.0.3,wg-up-2 packets 1 bytes 60\nadd wgs-A-sent-up4 10.8.0.2,wg-up-1 packets 9 bytes 5120\n')
ALICE = dict(name='alice', upstream='us', counters=[
    dict(set='wgs-A-sent-up4', member='10.8.0.2,wg-up-1', direction='sent', path='upstream'),
    dict(set='wgs-A-sent-direct4', member='10.8.0.2', direction='sent', path='direct'),
    dict(set='wgs-A-sent-up6', member='fdcc::2,wg-up-1', direction='sent', path='upstream'),
    dict(set='wgs-A-recv-up4', member='10.8.0.2,wg-up-1', direction='received', path='upstream')])
CONFIG = dict(textfile='/unused/wgsplit.prom', resolver_unit='wgsplit-resolver.service',
              upstreams=[dict(name='us', interface='wg-up-1', handshake_limit=225),
                         dict(name='eu', interface='wg-up-2', handshake_limit=None)],
              clients=[ALICE], sets=[dict(name='wgs-alice-p4', maxelem=65536), dict(name='wgs-gone-p4', maxelem=65536)])


def test_peer_counters_of_an_upstream():
    assert metrics.peer_counters(DUMP, 1042) == dict(latest_handshake=1000, handshake_age=42, rx_bytes=2048, tx_bytes=4096)
    assert metrics.peer_counters(DUMP.replace('\t1000\t', '\t0\t'), 1042)['handshake_age'] is None
    assert metrics.peer_counters('PRIVATE\tPUBLIC\t0\toff\n', 1042) == {}  # no peer: nothing to report


def test_set_headers_give_entries_and_whether_members_count():
    assert metrics.parse_set_headers(HEADERS) == {'wgs-alice-p4': dict(entries=12, references=1, counters=False),
                                                  'wgs-A-sent-up4': dict(entries=2, references=0, counters=True),
                                                  'other': dict(entries=0, references=0, counters=False),
                                                  'wgs-A-sent-up6': dict(entries=1, references=0, counters=True)}


def test_counters_are_the_bytes_of_each_member():
    assert metrics.parse_counters(SENT_UP) == {'10.8.0.3,wg-up-2': 60, '10.8.0.2,wg-up-1': 5120}
    assert metrics.parse_counters('add s 10.0.0.1\nadd s 10.0.0.2 timeout 5\n') == {}  # a set without counters
    # One set's members in a save of several.
    both = SENT_UP + 'add other 10.8.0.9,wg-up-1 packets 1 bytes 7\n'
    assert metrics.parse_all_counters(both) == {'wgs-A-sent-up4': metrics.parse_counters(SENT_UP), 'other': {'10.8.0.9,wg-up-1': 7}}
    assert metrics.parse_all_counters('create s hash:ip counters\nadd s 10.0.0.1\n') == {}


def test_client_traffic_adds_the_counters_of_each_path_and_direction():
    counters = {'wgs-A-sent-up4': {'10.8.0.2,wg-up-1': 100}, 'wgs-A-sent-up6': {'fdcc::2,wg-up-1': 20},
                'wgs-A-sent-direct4': {'10.8.0.2': 7}}
    assert metrics.client_traffic(ALICE, counters) == dict(sent=dict(upstream=120, direct=7),
                                                           received=dict(upstream=0, direct=0))


def test_healthy_is_up_with_a_handshake_no_older_than_the_limit():
    tunnel = metrics.tunnel_state('wg-up-1', ['UP', 'LOWER_UP'], dict(handshake_age=225))
    assert metrics.healthy(tunnel, metrics.handshake_limit(25))
    assert not metrics.healthy(dict(tunnel, handshake_age=226), 225)
    assert not metrics.healthy(metrics.tunnel_state('wg-up-1', [], {}), None)  # down
    assert not metrics.healthy(metrics.tunnel_state('wg-up-1', None, {}), None)  # missing
    assert metrics.healthy(metrics.tunnel_state('wg-up-1', ['UP'], {}), metrics.handshake_limit(0))  # idle, no keepalive


def fake_host(commands):
    def run(argv, data=None):
        return commands.get(' '.join(argv) + ('' if data is None else ' < ' + data), (1, ''))
    return run


HOST = fake_host({
    'ip -j link show': (0, json.dumps([dict(ifname='wg-up-1', flags=['POINTOPOINT', 'UP'])])),
    'wg show wg-up-1 dump': (0, DUMP),
    'ipset list -t': (0, HEADERS),
    'ipset save wgs-A-sent-up4': (0, SENT_UP),
    'ipset save wgs-A-sent-up6': (0, 'add wgs-A-sent-up6 fdcc::2,wg-up-1 packets 1 bytes 80\n'),
    'systemctl is-active --quiet wgsplit-resolver.service': (0, ''),
})


def test_read_state_asks_the_host_once_per_kind():
    state = metrics.read_state(CONFIG, 1042, HOST)
    assert state['tunnels']['wg-up-1']['handshake_age'] == 42 and state['tunnels']['wg-up-1']['up']
    assert not state['tunnels']['wg-up-2']['exists']
    # Only sets that exist are read; a counting set the kernel lacks counts nothing.
    assert state['counters'] == {'wgs-A-sent-up4': {'10.8.0.3,wg-up-2': 60, '10.8.0.2,wg-up-1': 5120},
                                 'wgs-A-sent-up6': {'fdcc::2,wg-up-1': 80}}
    assert state['resolver'] is True


def test_render_gives_each_metric_once_with_its_samples():
    text = metrics.render(CONFIG, metrics.read_state(CONFIG, 1042, HOST), 1042.5)
    lines = text.splitlines()
    assert lines[0] == '# Written by wgsplit.gateway (wgsplit-metrics.timer).'
    assert 'wgsplit_upstream_up{interface="wg-up-1",upstream="us"} 1' in lines
    assert 'wgsplit_upstream_up{interface="wg-up-2",upstream="eu"} 0' in lines
    assert 'wgsplit_upstream_healthy{interface="wg-up-1",upstream="us"} 1' in lines
    assert 'wgsplit_upstream_handshake_age_seconds{interface="wg-up-1",upstream="us"} 42' in lines
    assert not [line for line in lines if line.startswith('wgsplit_upstream_handshake_age_seconds{interface="wg-up-2"')]
    assert 'wgsplit_upstream_received_bytes_total{interface="wg-up-1",upstream="us"} 2048' in lines
    assert 'wgsplit_client_sent_bytes_total{client="alice",path="upstream",upstream="us"} 5200' in lines
    assert 'wgsplit_client_received_bytes_total{client="alice",path="direct",upstream="us"} 0' in lines  # counts nothing
    # A figure whose set could not be read is left out (a 0 would read as a counter reset).
    assert 'wgsplit_client_sent_bytes_total{client="alice",path="direct"' not in text
    assert 'wgsplit_client_received_bytes_total{client="alice",path="upstream"' not in text
    assert 'wgsplit_set_entries{set="wgs-alice-p4"} 12' in lines and 'wgs-gone-p4' not in text
    assert 'wgsplit_resolver_up 1' in lines and 'wgsplit_metrics_timestamp_seconds 1042' in lines
    names = [line.split()[2] for line in lines if line.startswith('# TYPE ')]
    assert len(names) == len(set(names)) == 11
    assert all(line.startswith('#') or SAMPLE.fullmatch(line) for line in lines), text


SAMPLE = re.compile(r'[a-z_]+(\{([a-z]+="([^"\\\n]|\\["\\n])*",?)+\})? [0-9]+(\.[0-9]+)?')


@given(st.text())
def test_any_label_value_stays_inside_its_quotes(value):
    rendered = metrics.label_value(value)
    assert rendered.startswith('"') and rendered.endswith('"') and '\n' not in rendered
    assert re.fullmatch(r'"([^"\\]|\\["\\n])*"', rendered)


def test_main_replaces_the_textfile_at_once(tmp_path, monkeypatch):
    config = dict(CONFIG, textfile=str(tmp_path / 'wgsplit.prom'))
    (tmp_path / 'config.json').write_text(json.dumps(config))
    monkeypatch.setattr(metrics, 'run', HOST)
    assert metrics.main([str(tmp_path / 'config.json')]) == 0
    assert (tmp_path / 'wgsplit.prom').read_text().startswith('# Written by wgsplit.gateway')
    assert oct(os.stat(str(tmp_path / 'wgsplit.prom')).st_mode & 0o777) == '0o644'
    assert sorted(os.listdir(str(tmp_path))) == ['config.json', 'wgsplit.prom']  # no temporary file left
    assert metrics.main([]) == 2


def test_a_command_that_is_not_installed_reads_as_failed():
    assert metrics.run(['wgsplit-no-such-command']) == (127, '')


def nft_set(name, *elements):
    return json.dumps(dict(nftables=[dict(set=dict(name=name, elem=list(elements)))]))


# nft's interactive mode with a HOME where its history cannot be read or written (a line per set, every run).
INTERACTIVE = 'env HOME=/dev/null nft -j -i'


@pytest.mark.parametrize('interactive', [True, False])
def test_read_state_lists_only_the_nftables_sets_it_reports_on(interactive):
    # One `nft -j -i` of the configured and counting sets (a rule list's interval set is neither: left unread);
    # the table's listing, its other sets left out, when nft has no interactive mode.
    counted = dict(elem=dict(val=dict(concat=['10.8.0.2', 'wg-up-1']), counter=dict(packets=1, bytes=300)))
    listings = [nft_set('wgs-A-recv-up4'), nft_set('wgs-A-sent-direct4'), nft_set('wgs-A-sent-up4', counted),
                nft_set('wgs-A-sent-up6'), nft_set('wgs-alice-p4', '192.0.2.7'), nft_set('wgs-gone-p4')]
    names = ['wgs-A-recv-up4', 'wgs-A-sent-direct4', 'wgs-A-sent-up4', 'wgs-A-sent-up6', 'wgs-alice-p4', 'wgs-gone-p4']
    script = ''.join('list set inet wgsplit %s\n' % name for name in names)
    table = json.dumps(dict(nftables=[json.loads(text)['nftables'][0] for text in listings] +
                            [dict(set=dict(name='wgs-Nabcd1234-p4', elem=['198.51.100.0/24']))]))
    # Interactive: the table's listing is not there to be read (it must not be).
    host = fake_host({INTERACTIVE + ' < ' + script: (0, '\n'.join(listings) + '\n')} if interactive else
                     {'nft -j list table inet wgsplit': (0, table)})
    state = metrics.read_state(dict(CONFIG, nftables_table='wgsplit'), 1042, host)
    assert sorted(state['sets']) == names
    assert state['sets']['wgs-alice-p4']['entries'] == 1
    assert state['counters']['wgs-A-sent-up4'] == {'10.8.0.2,wg-up-1': 300}


@pytest.mark.parametrize('output, listed', [
    ('nft> {"nftables": []}\n', True),  # a build whose interactive mode prompts: the table's listing instead
    ('[1]\n', True),
    ('', False),  # every set asked is gone: nothing, and no slow listing of the table for nothing
])
def test_nft_sets_out_of_an_interactive_mode_that_says_something_else(output, listed):
    calls = []

    def run(argv, data=None):
        calls.append(' '.join(argv))
        return (0, output) if argv[-1] == '-i' else (0, nft_set('a', '10.8.0.2'))
    found = metrics.read_nft_sets('wgsplit', ['a'], run)
    assert calls == [INTERACTIVE] + (['nft -j list table inet wgsplit'] if listed else [])
    assert found == ({'a': dict(entries=1, counters={})} if listed else {})
