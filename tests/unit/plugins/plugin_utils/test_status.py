"""split_status: an upstream is healthy when its interface is up and, with keepalive, its handshake is recent;
clients report what their sets hold; the table names what is down."""
from ansible_collections.wgsplit.gateway.plugins.filter.split import split_status
from ansible_collections.wgsplit.gateway.plugins.plugin_utils.status import size

from test_plan import discovered, make_plan


def tunnel(name, **state):
    return dict(dict(name=name, exists=True, up=True, latest_handshake=1000, handshake_age=30, rx_bytes=3 * 1048576,
                     tx_bytes=512), **state)


def test_upstreams_are_healthy_up_with_a_recent_handshake_and_clients_report_their_sets():
    planned = make_plan()
    found = discovered(wireguard=dict(tunnels=[tunnel('wg-up-1'), tunnel('wg-up-2', handshake_age=180 + 25 + 21)]),
                       ipsets=dict(entries={'wgs-alice-p4': 5, 'wgs-alice-p6': 2, 'wgs-bob-p4': 1}))
    result = split_status(planned, found)
    assert [(item['name'], item['healthy']) for item in result['upstreams']] == [('us', True), ('eu', False)]
    # The far end renewed the session: up to 180 s plus a keepalive interval is still healthy.
    found['wireguard']['tunnels'][1]['handshake_age'] = 180 + 25 + 20
    assert split_status(planned, found)['down'] == []
    found['wireguard']['tunnels'][1]['handshake_age'] = 180 + 25 + 21
    assert result['down'] == ['eu']
    learned = dict((client['name'], client['learned']) for client in result['clients'])
    assert learned == {'alice': 7, 'bob': 1, 'carol': 0}
    assert result['lines'][1].split() == ['us', 'wg-up-1', 'healthy', '30', 's', 'ago', '3.0', 'MiB', '512', 'B']
    assert result['lines'][-1] == 'resolver: NOT RUNNING'


def test_a_missing_or_down_interface_is_down_and_without_keepalive_up_is_enough():
    planned = make_plan()
    found = discovered(wireguard=dict(tunnels=[tunnel('wg-up-2', up=False)]))
    result = split_status(planned, found)
    assert result['down'] == ['us', 'eu']
    assert 'DOWN' in result['lines'][1] and 'never' in result['lines'][1]
    idle = dict(planned, upstreams=[dict(upstream, persistent_keepalive=0) for upstream in planned['upstreams']])
    found = discovered(wireguard=dict(tunnels=[tunnel('wg-up-1', handshake_age=None), tunnel('wg-up-2', handshake_age=9999)]))
    assert split_status(idle, found)['down'] == []


def test_sizes_read_as_people_read_them():
    assert [size(value) for value in (0, 1023, 1024, 1536, 5 * 1024 ** 3, 3 * 1024 ** 5)] == \
        ['0 B', '1023 B', '1.0 KiB', '1.5 KiB', '5.0 GiB', '3072.0 TiB']


def test_sets_nearly_full_are_named():
    planned = make_plan(set_maxelem=1024)
    found = discovered(ipsets=dict(entries={'wgs-alice-p4': 922, 'wgs-bob-p4': 921}))
    result = split_status(planned, found)
    assert result['full'] == [dict(name='wgs-alice-p4', entries=922, maxelem=1024)]
    assert result['lines'][-1] == 'sets nearly full (raise wgsplit_set_maxelem): wgs-alice-p4 922 of 1024'


def test_clients_report_their_bytes_through_the_upstream_and_direct():
    planned = make_plan()
    found = discovered(ipsets=dict(counters={'wgs-A-sent-up4': {'10.8.0.2,wg-up-1': 2048}, 'wgs-A-recv-up6': {'fdcc::2,wg-up-1': 1048576},
                                             'wgs-A-sent-direct4': {'10.8.0.2': 10, '10.8.0.3': 99}}))
    result = split_status(planned, found)
    alice = next(client for client in result['clients'] if client['name'] == 'alice')
    assert alice['traffic'] == dict(sent=dict(upstream=2048, direct=10), received=dict(upstream=1048576, direct=0))
    row = next(line for line in result['lines'] if line.startswith('alice '))
    assert '2.0 KiB / 1.0 MiB' in row and row.endswith('10 B / 0 B')


def test_drift_names_what_a_run_would_change():
    planned = make_plan()  # DISCOVERY: nothing written yet, so the resolver's files differ and it is not running
    pending = dict(pending={'split_client.chains': ['the kernel differs'], 'wg_upstream': ['a boot file differs']}, run={})
    result = split_status(planned, discovered(), pending)
    parts = [item['part'] for item in result['drift']]
    assert parts[:2] == ['wg_upstream', 'split_client.chains'] and 'resolver' in parts  # in the run's order
    assert result['lines'][-1].startswith('in step with the inventory: NO, a run would change: wg_upstream (a boot file '
                                          'differs); split_client.chains (the kernel differs); resolver (its configuration differs)')


def test_in_step_when_nothing_is_pending_and_the_plan_writes_nothing():
    planned = make_plan()
    planned['resolver'] = dict(planned['resolver'], write_config=False, write_unit=False, start=False, start_backs=[],
                               enable_backs=[], stale_sets=[])
    planned['metrics'] = dict(planned['metrics'], files=[dict(item, write=False) for item in planned['metrics']['files']],
                              start=False, stop=False, remove=[])
    result = split_status(planned, discovered(), dict(pending={}, run={}))
    assert result['drift'] == [] and result['lines'][-1] == 'in step with the inventory: yes'
    # Without split_pending's result (a play that did not run it) the table says nothing about it.
    assert not split_status(planned, discovered())['lines'][-1].startswith('in step')
    planned['removed'] = dict(planned['removed'], sets=['wgs-gone-p4'])
    assert split_status(planned, discovered(), dict(pending={}))['drift'] == [
        dict(part='split_client.removed_sets', reasons=['sets of removed clients or rules remain'])]
    planned['removed'] = dict(planned['removed'], sets=[])
    planned['resolver'] = dict(planned['resolver'], start_backs=['wgsplit-resolver-back@1.service'], interrupted=True)
    assert split_status(planned, discovered(), dict(pending={}))['drift'] == [
        dict(part='resolver', reasons=['back resolvers are not running']),
        dict(part='resolver', reasons=['a run stopped before its end (its journal remains)'])]


def test_drift_of_a_removal_and_of_missing_packages():
    from ansible_collections.wgsplit.gateway.plugins.plugin_utils.inventory import check_inventory
    from ansible_collections.wgsplit.gateway.plugins.plugin_utils.plan import plan
    found = dict(discovered(resolver=dict(config='# Written by wgsplit.gateway (role dnsmasq_split)\n', active=True,
                                          unit='[Unit]\n')), missing_packages=['ipset'])
    result = split_status(plan(check_inventory(dict(state='absent'), None), found), found, dict(pending={}))
    assert [item['part'] for item in result['drift']] == ['packages', 'resolver', 'resolver']
    assert result['drift'][0]['reasons'] == ['not installed: ipset']
    reasons = [item['reasons'][0] for item in result['drift'][1:]]
    assert reasons == ['it still runs or its unit remains', 'its files or services remain']
    # Only a back resolver's file left: a run would still remove it.
    found = dict(discovered(resolver=dict(backs={'/etc/wgsplit/resolver/back-3.conf': dict(text='x', mode='0600')})))
    result = split_status(plan(check_inventory(dict(state='absent'), None), found), found, dict(pending={}))
    assert [(item['part'], item['reasons']) for item in result['drift']] == [('resolver', ['its files or services remain'])]
