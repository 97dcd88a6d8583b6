"""playbooks/site.yml run once through ansible-runner (AWX's engine), from the collection as a user installs it
(the tarball in an empty collections path), against a lab gateway container whose wg0 runs.

    python3 tests/release/runner_site.py COLLECTIONS_PATH
Exits non-zero unless the run succeeds and the gateway then has the upstream interfaces and client sets.
"""
import json
import os
import subprocess
import sys
import tempfile
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'benchmarks'))
import ansible_runner  # noqa: E402  (the test venv has it: tests/requirements.txt)
from converge import docker, hosts, inventory, start_gateway  # noqa: E402  (the lab gateway of the benchmark)

# The job template's playbook: the collection's own, by its name.
PROJECT_PLAYBOOK = '- name: The collection\'s playbook, as an AWX project would run it\n' \
                   '  ansible.builtin.import_playbook: wgsplit.gateway.site\n'


def main():
    collections = os.path.abspath(sys.argv[1])
    # Docker running and the lab image built (on a fresh machine this is the first test that needs them).
    subprocess.run(['bash', os.path.join(ROOT, 'tests', 'lab', 'ready.sh')], check=True, stdout=subprocess.DEVNULL)
    name = 'wgsplit-runner-%s' % uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory() as work:
        os.makedirs(os.path.join(work, 'project'))
        with open(os.path.join(work, 'project', 'site.yml'), 'w') as out:
            out.write(PROJECT_PLAYBOOK)
        try:
            start_gateway(name, '')
            result = ansible_runner.run(
                private_data_dir=work, playbook='site.yml', quiet=True,
                inventory=json.dumps(hosts('docker', name, None, None)),
                extravars=inventory(3, 6, False, 'iptables'),
                envvars=dict(ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_NOCOLOR='1'))
            print('ansible-runner: status %s, rc %s, stats %s' % (result.status, result.rc, json.dumps(result.stats)))
            if result.status != 'successful' or result.rc != 0:
                sys.exit(result.stdout.read()[-6000:])
            links = docker('exec', name, 'wg', 'show', 'interfaces').split()
            sets = docker('exec', name, 'ipset', 'list', '-n').split()
            if 'wg-up-1' not in links or 'wgs-client0000-p4' not in sets:
                sys.exit('the run succeeded but the gateway has not what it planned: %s %s' % (links, sets))
            print('gateway: interfaces %s, %d sets' % (' '.join(links), len(sets)))
        finally:
            subprocess.run(['docker', 'rm', '-f', name], stdout=subprocess.DEVNULL, check=False)


if __name__ == '__main__':
    main()
