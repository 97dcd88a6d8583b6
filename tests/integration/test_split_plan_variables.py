"""split_plan's action reads the play's wgsplit_* variables as the plan role's task argument did before it: an inline
vault value decrypted (what docs/awx.md recommends for keys), a variable that resolves to omit left out (its default
applies), a template resolved, the collection's own variables and others left out. Real ansible-playbook on
localhost, with a probe action that returns what split_plan would plan from, on the ansible-core the tests run with
(tests/oldest/run.sh runs it on 2.16)."""
import json
import os
import subprocess
import textwrap

PROBE = '''
from ansible.plugins.action import ActionBase

from ansible_collections.wgsplit.gateway.plugins.action.split_plan import ActionModule as SplitPlan


class ActionModule(ActionBase):
    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        result['variables'] = SplitPlan.arguments(self, task_vars)[0]
        return result
'''
PLAYBOOK = '''
- hosts: gateway
  gather_facts: false
  vars:
    wgsplit_backend: "{{ omit }}"
    wgsplit_clients: "{{ lab_clients }}"
    lab_clients: [{name: alice, rules: [{type: domain, value: "{{ 'example' }}.com"}]}]
    wgsplit_role: split_client
  tasks:
    - name: What split_plan would plan from
      probe: {}
      register: probed
    - name: Kept for the test
      ansible.builtin.copy:
        content: "{{ probed.variables | to_json }}"
        dest: "{{ out }}"
        mode: "0600"
'''


def test_vault_omit_and_templates_reach_the_plan_as_the_task_argument_gave_them(collection_env, tmp_path):
    (tmp_path / 'password').write_text('lab-password\n')
    encrypted = subprocess.run(['ansible-vault', 'encrypt_string', '--vault-password-file', str(tmp_path / 'password'),
                                'the-private-key', '--name', 'private_key'], env=collection_env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, universal_newlines=True, check=True).stdout
    vault = encrypted[encrypted.index('!vault'):].rstrip()
    (tmp_path / 'hosts.yml').write_text(textwrap.dedent('''\
        all:
          hosts:
            gateway:
              ansible_connection: local
              wgsplit_dns_servers: [1.1.1.1]
              wgsplit_upstreams:
                - name: us
                  private_key: %s
        ''') % textwrap.indent(vault, ' ' * 20).lstrip())
    (tmp_path / 'action_plugins').mkdir()
    (tmp_path / 'action_plugins' / 'probe.py').write_text(PROBE)
    (tmp_path / 'play.yml').write_text(PLAYBOOK)
    env = dict(collection_env, ANSIBLE_ACTION_PLUGINS=str(tmp_path / 'action_plugins'))
    process = subprocess.run(['ansible-playbook', '-i', str(tmp_path / 'hosts.yml'), '--vault-password-file',
                              str(tmp_path / 'password'), '-e', 'out=%s' % (tmp_path / 'out.json'), str(tmp_path / 'play.yml')],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert process.returncode == 0, process.stdout[-3000:]
    with open(os.path.join(str(tmp_path), 'out.json')) as handle:
        variables = json.load(handle)
    assert variables == dict(dns_servers=['1.1.1.1'], upstreams=[dict(name='us', private_key='the-private-key')],
                             clients=[dict(name='alice', rules=[dict(type='domain', value='example.com')])])
