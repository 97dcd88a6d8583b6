import ipaddress
from unittest import mock

import pytest

from ansible_collections.wgsplit.gateway.plugins.modules import split_info

DUMP = '\n'.join([
    'cHJpdmF0ZQ==\tcHVibGlj\t51820\toff',
    'zz-peer=\t(none)\t192.0.2.1:51820\tfdcc::2/128,10.8.0.2/32\t0\t0\t0\toff',
    'aa-peer=\tcHNr\t(none)\t(none)\t0\t0\t0\t25',
    'mm-peer=\t(none)\t(none)\t10.8.0.7/24,10.8.0.3\t0\t0\t0\toff',
]) + '\n'


def test_wg_dump_peers_sorted_with_canonical_networks():
    assert split_info.parse_wg_dump(DUMP) == [
        {'public_key': 'aa-peer=', 'allowed_ips': []},
        {'public_key': 'mm-peer=', 'allowed_ips': ['10.8.0.0/24', '10.8.0.3/32']},
        {'public_key': 'zz-peer=', 'allowed_ips': ['10.8.0.2/32', 'fdcc::2/128']},
    ]


def test_wg_dump_without_peers():
    assert split_info.parse_wg_dump('cHJpdmF0ZQ==\tcHVibGlj\t51820\toff\n') == []
    assert split_info.parse_wg_dump('') == []


def test_global_addresses_only():
    entries = [{'ifname': 'wg0', 'addr_info': [
        {'family': 'inet', 'local': '10.8.0.1', 'prefixlen': 24, 'scope': 'global'},
        {'family': 'inet6', 'local': 'fdcc::1', 'prefixlen': 64, 'scope': 'global'},
        {'family': 'inet6', 'local': 'fe80::1', 'prefixlen': 64, 'scope': 'link'},
        {'family': 'inet', 'local': '127.0.0.1', 'prefixlen': 8, 'scope': 'host'},
    ]}]
    assert split_info.global_addresses(entries) == ['10.8.0.1/24', 'fdcc::1/64']


@pytest.mark.parametrize('text, expected', [
    ('0100007F', '127.0.0.1'),
    ('00000000', '0.0.0.0'),
    ('0100080A', '10.8.0.1'),
    ('00000000000000000000000001000000', '::1'),
    ('00000000000000000000000000000000', '::'),
    ('0000CCFD000000000000000002000000', 'fdcc::2'),
    # v4-mapped: whatever ipaddress prints (Python 3.13 prints the dotted form)
    ('0000000000000000FFFF00000100080A', str(ipaddress.ip_address('::ffff:10.8.0.1'))),
])
def test_proc_net_address_little_endian(text, expected):
    assert split_info.decode_address(text, 'little') == expected


def test_proc_net_address_big_endian():
    assert split_info.decode_address('7F000001', 'big') == '127.0.0.1'
    assert split_info.decode_address('FDCC0000000000000000000000000002', 'big') == 'fdcc::2'


PROC_UDP = '''\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  100: 00000000:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1111 2 0000000000000000 0
  101: 3500007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 2222 2 0000000000000000 0
  102: 0100080A:0035 0200080A:9C40 01 00000000:00000000 00:00000000 00000000     0        0 3333 2 0000000000000000 0
  103: 0100080A:14E9 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4444 2 0000000000000000 0
'''

PROC_TCP6 = '''\
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0035 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5555 1 0 100 0 0 10 0
   1: 00000000000000000000000001000000:0035 00000000000000000000000001000000:A0B2 01 00000000:00000000 00:00000000 00000000     0        0 6666 1 0 100 0 0 10 0
'''


def test_proc_net_udp_bound_sockets_of_the_port():
    # The connected socket (state 01) and the other port are left out.
    assert split_info.parse_proc_net(PROC_UDP, '07', 53, 'little') == [('0.0.0.0', 53, 1111), ('127.0.0.53', 53, 2222)]


def test_proc_net_tcp6_listeners_only():
    assert split_info.parse_proc_net(PROC_TCP6, '0A', 53, 'little') == [('::', 53, 5555)]
    assert split_info.parse_proc_net('', '0A', 53, 'little') == []


@pytest.mark.parametrize('link, expected', [
    ('socket:[12345]', 12345), ('pipe:[12345]', None), ('/dev/null', None), ('anon_inode:[eventpoll]', None)])
def test_socket_inode(link, expected):
    assert split_info.socket_inode(link) == expected


@pytest.mark.parametrize('text, expected', [
    ('0::/system.slice/wgsplit-resolver.service\n', True),
    ('12:pids:/system.slice/wgsplit-resolver.service\n0::/system.slice/wgsplit-resolver.service\n', True),
    ('0::/system.slice/wgsplit-resolver.service/sub\n', True),
    ('0::/system.slice/not-wgsplit-resolver.service\n', False),
    ('0::/system.slice/dnsmasq.service\n', False),
    ('0::/\n', False),
    (None, False),
])
def test_in_unit(text, expected):
    assert split_info.in_unit(text, 'wgsplit-resolver.service') is expected


@pytest.mark.parametrize('text, expected', [
    ('0::/system.slice/system-wgsplit\\x2dresolver\\x2dback.slice/wgsplit-resolver-back@3.service\n', True),
    ('0::/system.slice/wgsplit-resolver.service\n', False),
    ('0::/system.slice/wgsplit-resolver-back@3.scope\n', False),
    ('0::/system.slice/not-wgsplit-resolver-back@3.service\n', False),
    (None, False),
])
def test_in_instance(text, expected):
    assert split_info.in_instance(text, 'wgsplit-resolver-back@.service') is expected


@pytest.mark.parametrize('text, expected', [('256\n', 256), ('0\n', None), ('', None), (None, None)])
def test_max_sets(text, expected):
    assert split_info.parse_max_sets(text) == expected


RULES = [
    {'priority': 0, 'src': 'all', 'table': '255'},
    {'priority': 5000, 'src': 'all', 'fwmark': '0x1000000', 'fwmask': '0xff000000', 'table': '51001', 'protocol': '233'},
    {'priority': 5000, 'src': 'all', 'dst': '192.0.2.53', 'table': '51003', 'protocol': '233'},
    {'priority': 5001, 'src': 'all', 'fwmark': '0x2', 'table': '51002'},
    {'priority': 5002, 'src': 'all', 'fwmark': '0x3', 'table': '51004', 'protocol': '4'},
    {'priority': 6000, 'src': 'all', 'action': '7', 'protocol': '233'},
    {'priority': 32766, 'src': 'all', 'table': '254'},
]


def test_rule_tables_carry_the_protocol():
    assert split_info.rule_tables(RULES, 233) == {51001, 51003}
    assert split_info.rule_tables(RULES, 4) == {51004}
    assert split_info.rule_tables([], 233) == set()


def test_route_tables_ignore_main():
    routes = [
        {'type': '7', 'dst': 'default', 'table': '51001', 'metric': 4000, 'flags': []},
        {'dst': '10.7.0.0/24', 'dev': 'v0', 'scope': '253', 'flags': []},
        {'type': '7', 'dst': 'default', 'dev': 'lo', 'table': '51005', 'metric': 1024, 'flags': []},
    ]
    assert split_info.route_tables(routes) == {51001, 51005}


def test_boot_route_files():
    names = ['table-51001.inet.batch', 'table-51001.inet6.batch', 'table-51002.inet.batch',
             'table-x.inet.batch', 'table-51003.inet4.batch', '.wgsplit-abc', 'table-51004.inet.batch.old']
    assert split_info.boot_tables(names) == {'inet': {51001, 51002}, 'inet6': {51001}}


def test_boot_chain_files():
    names = ['nat.WGSPLIT_DNS.inet6.rules', 'mangle.WGSPLIT.inet.rules', 'mangle.WGSPLIT_CLIENTS.inet.rules',
             'mangle.my-chain_2.inet6.rules', 'mangle.a.b.inet.rules', 'mangle.WGSPLIT.inet5.rules',
             '.wgsplit-tmp', 'mangle.WGSPLIT.inet.rules~']
    assert split_info.boot_chains(names) == [
        {'table': 'mangle', 'chain': 'WGSPLIT', 'family': 'inet'},
        {'table': 'mangle', 'chain': 'WGSPLIT_CLIENTS', 'family': 'inet'},
        {'table': 'mangle', 'chain': 'my-chain_2', 'family': 'inet6'},
        {'table': 'nat', 'chain': 'WGSPLIT_DNS', 'family': 'inet6'},
    ]


def test_boot_chain_files_of_earlier_builds_name_the_family_as_the_others_do():
    names = ['mangle.wgs-alice.ipv4.rules', 'mangle.wgs-alice.inet.rules', 'nat.WGSPLIT_DNS.ipv6.rules']
    assert split_info.boot_chains(names) == [
        {'table': 'mangle', 'chain': 'wgs-alice', 'family': 'inet'},
        {'table': 'nat', 'chain': 'WGSPLIT_DNS', 'family': 'inet6'},
    ]


def test_boot_set_files():
    assert split_info.boot_sets(['wgs-b-p4.save', 'wgs-a-d6.save', '.wgsplit-x1.save', 'notes.txt']) == \
        ['wgs-a-d6', 'wgs-b-p4']


def test_declared_chains_are_the_user_chains_of_each_table():
    text = '*mangle\n:PREROUTING ACCEPT [0:0]\n:WGSPLIT - [0:0]\nCOMMIT\n*nat\n:DOCKER - [0:0]\n:OUTPUT ACCEPT [1:2]\nCOMMIT\n'
    assert split_info.declared_chains(text, 'inet') == [dict(table='mangle', chain='WGSPLIT', family='inet'),
                                                        dict(table='nat', chain='DOCKER', family='inet')]


def test_back_resolvers_running_include_those_restarting_after_a_failure():
    class Listing:
        def run(self, argv, check=True):
            assert argv[-1] == 'wgsplit-resolver-back@*.service' and '--all' in argv
            return 0, ('wgsplit-resolver-back@1.service loaded active running wgsplit.gateway back resolver 1\n'
                       'wgsplit-resolver-back@2.service loaded activating auto-restart wgsplit.gateway back resolver 2\n'
                       'wgsplit-resolver-back@3.service loaded failed failed wgsplit.gateway back resolver 3\n'
                       'wgsplit-resolver-back@4.service loaded inactive dead wgsplit.gateway back resolver 4\n'
                       'wgsplit-resolver-back@5.service loaded deactivating stop-sigterm wgsplit.gateway back resolver 5\n'), ''
    info = object.__new__(split_info.SplitInfo)
    info.cmd = Listing()
    assert info.running_instances('wgsplit-resolver-back@.service') == [
        'wgsplit-resolver-back@1.service', 'wgsplit-resolver-back@2.service', 'wgsplit-resolver-back@5.service']


def test_nft_sets_are_read_without_the_rule_lists_interval_sets():
    # Only the sets that fill or count are listed (a rule list's interval set: 100,000s of elements, left unread).
    reader = object.__new__(split_info.SplitInfo)
    calls = []

    def run(argv, data=None, check=True):
        calls.append((argv, data))
        return 0, '{"nftables": [{"set": {"name": "a", "elem": ["10.8.0.2"]}}]}\n', ''
    reader.cmd = mock.Mock(run=run)
    declared = {'a': ['type ipv4_addr'], 'b': ['type ipv4_addr', 'flags timeout'], 'n': ['type ipv4_addr', 'flags interval']}
    assert reader.nft_sets(declared) == {'a': dict(entries=1, counters={})}
    assert calls == [(['env', 'HOME=/dev/null', 'nft', '-j', '-i'], 'list set inet wgsplit a\nlist set inet wgsplit b\n')]
