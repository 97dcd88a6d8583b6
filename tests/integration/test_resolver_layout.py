"""The resolver layout on the real dnsmasq, in a throwaway network namespace: the front resolver as the plan renders
it (on a stand-in server interface), its back resolvers on the loopback, and an upstream that answers each name with
an address of its own. Every name ends in the sets of its most specific rule, and only those, whether a combination
has its own back resolver or shares the last one."""
import json
import shutil
import signal
import subprocess
import time
import uuid

import pytest

from ansible_collections.wgsplit.gateway.plugins.plugin_utils import resolver

pytestmark = pytest.mark.skipif(shutil.which('dnsmasq') is None, reason='dnsmasq is not installed (tests/setup.sh installs it)')

UPSTREAM = '127.0.0.1#5399'
SETTINGS = dict(server_interface='wgt0', resolver_cache_size=1000, resolver_max_ttl=300, dns_servers=[UPSTREAM],
                resolver_instances=32)
SETS = ['wgs-a-p4', 'wgs-a-d4', 'wgs-b-p4', 'wgs-c-p4']
# Nested rules: a parent proxied, a child direct for one client, a grandchild back to the parent's sets; two
# domains with one combination; the upstream servers of one domain its own (here the same test upstream).
ENTRIES = [resolver.entry('example.com', ['wgs-a-p4', 'wgs-b-p4'], ['#']),
           resolver.entry('example.org', ['wgs-a-p4', 'wgs-b-p4'], ['#']),
           resolver.entry('video.test', ['wgs-c-p4'], ['127.0.0.1#5399']),
           resolver.entry('www.example.com', ['wgs-a-d4', 'wgs-b-p4'], ['#']),
           resolver.entry('img.www.example.com', ['wgs-a-p4', 'wgs-b-p4'], ['#'])]
NAMES = ['example.com', 'x.example.com', 'www.example.com', 'a.www.example.com', 'img.www.example.com',
         'b.img.www.example.com', 'example.org', 'video.test', 'cdn.video.test', 'other.test', 'example.net']


def address_of(name):
    """The upstream's answer for a name: one address per name, so a set's members tell which names fed it."""
    return '10.77.%d.%d' % (NAMES.index(name) // 250, NAMES.index(name) % 250 + 1)


def expected(name):
    fed = dict((item['domain'], item['sets']) for item in ENTRIES)
    return next((fed[domain] for domain in resolver.ancestors(name) if domain in fed), [])


# Run inside the namespace: one A query over UDP per name given, the answers' addresses as JSON.
QUERY = """
import ipaddress, json, socket, struct, sys
answers = {}
for name in sys.argv[1:]:
    packet = struct.pack('>HHHHHH', 0x4242, 0x0100, 1, 0, 0, 0)
    packet += b''.join(bytes([len(label)]) + label.encode() for label in name.split('.')) + b'\\0' + struct.pack('>HH', 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3)
        sock.sendto(packet, ('10.8.0.1', 53))
        reply = sock.recv(4096)
    answers[name] = [str(ipaddress.ip_address(reply[-4:]))] if struct.unpack('>H', reply[6:8])[0] else []
print(json.dumps(answers))
"""


@pytest.fixture
def namespace(tmp_path):
    name = 'wgsplit-dns-%s' % uuid.uuid4().hex[:8]
    processes = []

    def run(*argv):
        return subprocess.run(['ip', 'netns', 'exec', name] + list(argv), check=True, stdout=subprocess.PIPE, text=True).stdout

    def start(file_name, text):
        path = tmp_path / file_name
        path.write_text(text)
        subprocess.run(['dnsmasq', '--test', '--conf-file=%s' % path], check=True, capture_output=True)
        processes.append(subprocess.Popen(['ip', 'netns', 'exec', name, 'dnsmasq', '--keep-in-foreground',
                                           '--conf-file=%s' % path, '--user=root']))

    subprocess.run(['ip', 'netns', 'add', name], check=True)
    try:
        run('ip', 'link', 'set', 'lo', 'up')
        run('ip', 'link', 'add', 'wgt0', 'type', 'veth', 'peer', 'name', 'wgt1')
        run('ip', 'addr', 'add', '10.8.0.1/24', 'dev', 'wgt0')
        run('ip', 'link', 'set', 'wgt0', 'up')
        run('ip', 'link', 'set', 'wgt1', 'up')
        for set_name in SETS:
            run('ipset', 'create', set_name, 'hash:ip')
        yield run, start
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
            process.wait(10)
        subprocess.run(['ip', 'netns', 'del', name], check=False)


def members(run, set_name):
    return sorted(line.split()[2] for line in run('ipset', 'save', set_name).splitlines() if line.startswith('add '))


@pytest.mark.parametrize('instances, packing, count', [
    (32, (0, 1000), 3),  # every combination a back of its own
    (2, (0, 1000), 2),   # beyond the limit, the last back takes the rest
    (1, (0, 1000), 1),
    (32, (1, 2), 2),     # combinations of one domain share a back of at most two lines
])
def test_every_name_feeds_the_sets_of_its_most_specific_rule(namespace, instances, packing, count):
    run, start = namespace
    upstream = ['listen-address=127.0.0.1', 'port=5399', 'bind-interfaces', 'no-resolv', 'no-hosts', 'pid-file=']
    upstream += ['address=/%s/%s' % (item, address_of(item)) for item in NAMES]
    start('upstream.conf', '\n'.join(upstream) + '\n')
    front, backs = resolver.layout(dict(SETTINGS, resolver_instances=instances), ENTRIES, packing=packing)
    assert len(backs) == count
    for number, text in backs:
        start('back-%d.conf' % number, text)
    start('front.conf', front)
    time.sleep(1)
    assert json.loads(run('python3', '-c', QUERY, *NAMES)) == dict((item, [address_of(item)]) for item in NAMES)
    for set_name in SETS:
        assert members(run, set_name) == sorted(address_of(item) for item in NAMES if set_name in expected(item)), set_name
