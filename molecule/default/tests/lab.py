"""What the lab tests and the lab demo share: the containers, the paths expected, and runs of site.yml."""
import copy
import difflib
import os
import re
import subprocess
import time

import testinfra
import yaml

SCENARIO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROJECT = os.path.dirname(os.path.dirname(SCENARIO))
SITE = os.path.join(PROJECT, 'playbooks', 'site.yml')
STATUS = os.path.join(PROJECT, 'playbooks', 'status.yml')
CLIENT = os.path.join(PROJECT, 'playbooks', 'client.yml')

with open(os.path.join(SCENARIO, 'tests', 'expected_paths.yml')) as expected_file:
    EXPECTED = yaml.safe_load(expected_file)
with open(os.path.join(SCENARIO, 'group_vars', 'wgsplit_gateways', 'main.yml')) as inventory_file:
    INVENTORY = yaml.safe_load(inventory_file)

# WGSPLIT_LAB_BACKEND=nftables runs the whole lab with wgsplit_backend: nftables (the inventory reads it too).
BACKEND = os.environ.get('WGSPLIT_LAB_BACKEND') or 'iptables'
NFT = BACKEND == 'nftables'
NFT_TABLE = 'inet wgsplit'

ADDRESSES = EXPECTED['addresses']
VIA = dict((address, via) for via, by_family in ADDRESSES.items() for address in by_family.values())


def host(name):
    return testinfra.get_host('docker://wgsplit-%s' % name)


def seen(client, name, timeout_s=5, ip=4):
    """The address the far end saw for an HTTP request from the client over IPv4 or IPv6, or None when
    none came back."""
    result = host(client).run('curl -%d -s --max-time %d http://%s/' % (ip, timeout_s, name))
    return result.stdout.strip() if result.rc == 0 else None


def expected(path):
    """The address the far end must see for a path of expected_paths.yml (None: refused)."""
    return None if path['via'] == 'rejected' else ADDRESSES[path['via']][path.get('ip', 4)]


def label(path):
    return '%(client)s-%(name)s' % path + ('-ipv6' if path.get('ip') == 6 else '')


def inventory(**changes):
    """A copy of the lab inventory; clients and upstreams given as {name: dict or None (removed)}."""
    result = copy.deepcopy(INVENTORY)
    for key in ('wgsplit_clients', 'wgsplit_upstreams'):
        for name, value in changes.pop(key, {}).items():
            items = result[key]
            index = next((number for number, item in enumerate(items) if item['name'] == name), None)
            if value is None:
                del items[index]
            elif index is None:
                items.append(value)
            else:
                items[index] = dict(items[index], **value)
    result.update(changes)
    return result


def inventory_dir():
    return os.path.dirname(os.environ['MOLECULE_INVENTORY_FILE'])


# What the last full run applied (None: unknown, after a failed or partial run). Molecule's converge
# applied the lab inventory before the tests start.
APPLIED = {'variables': INVENTORY}


def site(variables=None, check=False, tmp_path=None, options=(), playbook=SITE):
    """Runs playbooks/site.yml (or another playbook) against the lab; returns (rc, output, changed count of the
    gateway)."""
    command = ['ansible-playbook', '-i', inventory_dir(), playbook] + list(options)
    if variables is not None:
        path = os.path.join(tmp_path, 'vars-%d.yml' % time.monotonic_ns())
        with open(path, 'w') as out:
            yaml.safe_dump(variables, out)
        command += ['-e', '@' + path]
    if check:
        command += ['--check', '--diff']
    env = dict(os.environ, ANSIBLE_FORCE_COLOR='0', ANSIBLE_NOCOLOR='1')  # molecule forces colour
    process = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False, env=env)
    match = re.search(r'wgsplit-gateway\s*:\s*ok=\d+\s+changed=(\d+)', process.stdout)
    if not check and playbook == SITE:
        full = process.returncode == 0 and not options
        APPLIED['variables'] = (INVENTORY if variables is None else variables) if full else None
    return process.returncode, process.stdout, int(match.group(1)) if match else None


# What the resolver learned comes and goes with the clients' queries: the members of the collection's sets
# (their timeouts count down) and the saved copies of them.
LEARNED = re.compile(r'^(?:add wgs-\S+ .*|/etc/wgsplit/learned/.*)\n', re.MULTILINE)


def gateway_state():
    """Everything of the gateway's that a run could change, without counters, timers and what was learned."""
    gateway = host('gateway')
    commands = ['iptables-save', 'ip6tables-save', 'ipset save', 'nft list tables', 'nft -t list table %s' % NFT_TABLE,
                'ip -4 rule', 'ip -6 rule', 'ip route show table all',
                'ip -6 route show table all', 'wg show interfaces', 'find /etc/wgsplit /etc/wireguard -type f',
                # What the files hold, not only their names (a PreUp line added to a wg-quick file would run at boot),
                # the collection's units and drop-ins, and the reverse-path filters it sets.
                "find /etc/wgsplit /etc/wireguard /etc/systemd/system -type f \\( -path '/etc/wireguard/*' -o -path"
                " '*wgsplit*' \\) ! -path '*/learned/*'"
                ' -exec sha256sum {} + | sort -k 2', 'sysctl -a --pattern "\\.rp_filter$"',
                'systemctl is-active wgsplit-resolver', 'systemctl is-enabled wgsplit-resolver',
                'systemctl list-units --plain --no-legend wgsplit-resolver-back@*']
    output = []
    for command in commands:
        result = gateway.run(command)
        output.append('$ %s\n%s%s' % (command, result.stdout, result.stderr))
    text = LEARNED.sub('', '\n'.join(output))
    text = re.sub(r'\[\d+:\d+\]', '', text)
    return re.sub(r'^# (Generated|Completed) .*$', '', text, flags=re.MULTILINE)


def assert_unchanged(before):
    """That the gateway's state is `before` (gateway_state); else the lines that differ, as a unified diff."""
    after = gateway_state()
    changes = '\n'.join(difflib.unified_diff(before.splitlines(), after.splitlines(), 'before', 'after', lineterm=''))
    assert not changes, changes


def wait_booted(name, timeout_s=60):
    deadline = time.monotonic() + timeout_s
    while host(name).run('systemctl is-system-running').stdout.strip() not in ('running', 'degraded'):
        assert time.monotonic() < deadline, '%s did not finish booting' % name
        time.sleep(1)


# What differs between the backends: where the sets and the classification are, and how to break them by hand.
def set_names(gateway):
    if NFT:
        return re.findall(r'^\tset (\S+) \{', gateway.run('nft -t list table %s' % NFT_TABLE).stdout, re.MULTILINE)
    return gateway.check_output('ipset list -n').split()


def set_listing(gateway, name):
    """A set with its members, one line each for ipset (`ADDRESS timeout N`), on the elements line(s) for nft."""
    return gateway.check_output('nft list set %s %s' % (NFT_TABLE, name) if NFT else 'ipset list %s' % name)


def add_member(gateway, name, address):
    gateway.run_test("nft add element %s %s '{ %s }'" % (NFT_TABLE, name, address) if NFT else
                     'ipset add %s %s -exist' % (name, address))


def classification(gateway):
    """The rules that send each client's connections to its chain and classify them."""
    return gateway.check_output('nft -t list table %s' % NFT_TABLE if NFT else 'iptables-save -t mangle')


def client_dispatched(gateway, address, name):
    text = classification(gateway)
    return ('%s : goto client-%s' % (address, name)) in text if NFT else ('-A WGSPLIT_CLIENTS -s %s/32' % address) in text


# Faults by hand that a test leaves in place to see what else holds (the refusal, drift, status, a run's repair):
# wgsplit-watch.service would put them back within a second, so it is stopped first (as where it cannot see them:
# iptables-legacy), and the learned timer, whose save would put them back should it fire meanwhile (every five minutes). The tests'
# fixture starts them again after each test.
UNWATCHED = 'systemctl stop wgsplit-watch.service wgsplit-learned.timer && '


def drop_classification(gateway):
    """What a firewall reload that drops the collection's classifying jump does: nothing is classified."""
    gateway.run_test(UNWATCHED + ('nft flush chain %s classify' % NFT_TABLE if NFT else 'iptables -t mangle -D PREROUTING -j WGSPLIT'))


def drop_unclassified_mark(gateway):
    """What a reload of the raw table by other software does: the server interface's packets come unmarked."""
    gateway.run_test(UNWATCHED + ('nft flush chain %s not-classified' % NFT_TABLE if NFT else
                                  'iptables -t raw -D PREROUTING -j WGSPLIT && ip6tables -t raw -D PREROUTING -j WGSPLIT'))


def drop_dns_redirect(gateway):
    """What a reload of the nat table by other software does: the split clients' DNS is no longer redirected."""
    gateway.run_test(UNWATCHED + ('nft flush chain %s dns-redirect' % NFT_TABLE if NFT else
                                  'iptables -t nat -D PREROUTING -j WGSPLIT_DNS && ip6tables -t nat -D PREROUTING -j WGSPLIT_DNS'))


def drop_encrypted_dns_refusal(gateway):
    """What a reload of the filter table by other software does: encrypted DNS is no longer rejected there."""
    gateway.run_test(UNWATCHED + ('nft delete chain %s encrypted-dns' % NFT_TABLE if NFT else
                                  'iptables -D FORWARD -j WGSPLIT_FILTER && ip6tables -D FORWARD -j WGSPLIT_FILTER'))


def flush_client_chain(gateway, name):
    gateway.run_test(UNWATCHED + flush_client_chain_command(name))


def flush_client_chain_command(name):
    return ('nft flush chain %s client-%s' % (NFT_TABLE, name) if NFT else
            'iptables -t mangle -F wgs-%s && ip6tables -t mangle -F wgs-%s' % (name, name))


def chains_call():
    """The name of split_pending's call for the classification (status names it when it drifts)."""
    return 'split_client.table' if NFT else 'split_client.chains'


def collection_rules(gateway):
    """The collection's chains (or table) as the kernel lists them, without counters."""
    if NFT:
        return gateway.run('nft -t list table %s' % NFT_TABLE).stdout  # nothing: the table is gone
    text = gateway.check_output('iptables-save; ip6tables-save')
    return [re.sub(r' \[\d+:\d+\]$', '', line) for line in text.splitlines() if re.search('WGSPLIT|wgs-', line)]


def filter_listing(gateway):
    return gateway.run('nft -t list table %s' % NFT_TABLE if NFT else 'iptables-save -c -t filter; iptables-save -c -t mangle').stdout
