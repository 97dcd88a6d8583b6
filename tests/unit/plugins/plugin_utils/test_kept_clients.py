"""Clients kept on the gateway (playbooks/client.yml): one client added, changed, disabled or removed by a survey's
answers, checked as the inventory is, recorded canonically, and kept by every later run."""
import json
import os

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.wgsplit.gateway.plugins.module_utils.canonical import Invalid
from ansible_collections.wgsplit.gateway.plugins.plugin_utils.inventory import check_inventory
from ansible_collections.wgsplit.gateway.plugins.plugin_utils.kept_clients import survey_rules, words
from ansible_collections.wgsplit.gateway.plugins.plugin_utils.settings import EDIT_VARIABLES

from test_plan import CLIENTS, DISCOVERY, UPSTREAMS, discovered, make_plan

DAVE = dict(edit_name='erin', edit_address='10.8.0.6, fdcc::6', edit_upstream='us',
            edit_rules='video.example\ndirect 192.0.2.0/24  # the office\n\n', edit_rule_sets='')
PATH = '/etc/wgsplit/clients/erin.json'


def kept(result):
    return dict((item['path'], item['content']) for item in result['kept_clients']['write'])


def test_a_survey_adds_a_client_that_later_runs_keep():
    added = make_plan(**DAVE)
    assert added['errors'] == []
    erin = next(client for client in added['clients'] if client['name'] == 'erin')
    assert erin['address'] == ['10.8.0.6', 'fdcc::6'] and erin['rules'] == dict(domain=1, ip=1)
    entry = json.loads(kept(added)[PATH])
    assert entry['rules'] == [dict(type='domain', value='video.example', action='proxy', enabled=True),
                              dict(type='ip', value='192.0.2.0/24', action='direct', enabled=True)]
    # The next run, without the edit, finds the file: the client stays, nothing is written again.
    again = make_plan(discovery=discovered(kept_clients={'erin': kept(added)[PATH]}))
    assert 'erin' in [client['name'] for client in again['clients']]
    assert again['kept_clients']['write'] == [] and again['kept_clients']['remove'] == []


def test_disable_keeps_the_entry_but_does_not_split_it_and_absent_removes_it():
    text = kept(make_plan(**DAVE))[PATH]
    found = discovered(kept_clients={'erin': text})
    disabled = make_plan(discovery=found, **dict(DAVE, edit_state='disabled'))
    assert json.loads(kept(disabled)[PATH])['enabled'] is False
    assert 'erin' not in [client['name'] for client in disabled['clients']]
    removed = make_plan(discovery=found, edit_name='erin', edit_state='absent')
    assert removed['kept_clients']['remove'] == [PATH] and 'erin' not in [client['name'] for client in removed['clients']]
    assert make_plan(discovery=found, state='absent')['kept_clients']['remove'] == [PATH, '/etc/wgsplit/clients']


@pytest.mark.parametrize('answers, message', [
    (dict(DAVE, edit_name='alice'), "client 'alice': is in the inventory (wgsplit_clients): edit it there"),
    (dict(DAVE, edit_name='Dave\nx'), "wgsplit_edit_name 'Dave\\nx' must be a client name"),
    (dict(DAVE, edit_state='gone'), "wgsplit_edit_state 'gone' must be one of present, disabled, absent"),
    (dict(DAVE, edit_address='10.8.0.300'), "client 'erin'"),
    (dict(DAVE, edit_address='10.8.0.2'), "address 10.8.0.2 is also client 'alice''s"),
    (dict(DAVE, edit_upstream='nowhere'), "upstream 'nowhere' is not in wgsplit_upstreams"),
    (dict(DAVE, edit_rules='proxy video.example extra'), 'wgsplit_edit_rules: line 1'),
    (dict(DAVE, edit_rules='maybe video.example'), 'wgsplit_edit_rules: line 1'),
    (dict(DAVE, edit_rules='video..example'), "client 'erin' (kept on the gateway) rule 1"),
])
def test_a_bad_answer_is_refused_before_anything_changes(answers, message):
    checked = check_inventory(dict(dns_servers=['1.1.1.1'], upstreams=UPSTREAMS, clients=CLIENTS, **answers),
                              DISCOVERY['server'])
    assert any(message in error for error in checked['errors']), checked['errors']


def test_a_broken_kept_file_is_named_and_the_survey_can_remove_it():
    variables = dict(dns_servers=['1.1.1.1'], upstreams=UPSTREAMS, clients=CLIENTS)
    broken = check_inventory(variables, DISCOVERY['server'], kept={'erin': '{not json'})
    assert broken['errors'][0].startswith("client 'erin' (kept on the gateway): its file is not a client entry")
    fixed = check_inventory(dict(variables, edit_name='erin', edit_state='absent'), DISCOVERY['server'], kept={'erin': '{'})
    assert fixed['errors'] == [] and fixed['kept'] == {'erin': None}


def test_survey_lists_and_rules():
    assert words('10.8.0.5,fdcc::5  10.8.0.6') == ['10.8.0.5', 'fdcc::5', '10.8.0.6']
    assert survey_rules('direct 2001:db8::/32\nexample.com') == [
        dict(type='ip', value='2001:db8::/32', action='direct'), dict(type='domain', value='example.com', action='proxy')]
    with pytest.raises(Invalid, match='must be text or a list, not a number'):
        words(5)


@settings(max_examples=150, deadline=None)
@given(st.fixed_dictionaries({}, optional=dict(
    edit_address=st.text(max_size=40), edit_rules=st.text(max_size=80), edit_rule_sets=st.text(max_size=20),
    edit_public_key=st.text(max_size=50), edit_default_action=st.text(max_size=8))))
def test_any_answers_are_refused_or_kept_canonically(answers):
    variables = dict(dns_servers=['1.1.1.1'], upstreams=UPSTREAMS, clients=CLIENTS, edit_name='erin', edit_upstream='us',
                     **answers)
    checked = check_inventory(variables, DISCOVERY['server'])
    if checked['errors']:
        return
    text = checked['kept']['erin']
    assert text.endswith('\n') and all(char == '\n' or char.isprintable() for char in text)
    # What was kept reads back to itself: the next run keeps it unchanged.
    again = check_inventory(dict(variables, **dict((key, None) for key in answers), edit_name=None, edit_upstream=None),
                            DISCOVERY['server'], kept={'erin': text})
    assert again['errors'] == [] and again['kept'] == {'erin': text}


def test_an_edit_changes_only_the_answers_it_gives():
    text = kept(make_plan(**DAVE))[PATH]
    found = discovered(kept_clients={'erin': text})
    disabled = json.loads(kept(make_plan(discovery=found, edit_name='erin', edit_state='disabled'))[PATH])
    assert disabled['enabled'] is False and disabled['rules'] == json.loads(text)['rules']
    moved = json.loads(kept(make_plan(discovery=found, edit_name='erin', edit_upstream='eu'))[PATH])
    assert moved['upstream'] == 'eu' and moved['address'] == ['10.8.0.6', 'fdcc::6'] and len(moved['rules']) == 2
    emptied = json.loads(kept(make_plan(discovery=found, edit_name='erin', edit_rules='-'))[PATH])
    assert emptied['rules'] == [] and emptied['upstream'] == 'us'


def test_a_kept_client_whose_name_the_inventory_took_can_still_be_removed():
    variables = dict(dns_servers=['1.1.1.1'], upstreams=UPSTREAMS, clients=CLIENTS)
    text = kept(make_plan(**DAVE))[PATH].replace('erin', 'alice')
    stuck = check_inventory(variables, DISCOVERY['server'], kept={'alice': text})
    assert "client 'alice' (kept on the gateway): is in the inventory too" in stuck['errors'][0]
    freed = check_inventory(dict(variables, edit_name='alice', edit_state='absent'), DISCOVERY['server'], kept={'alice': text})
    assert freed['errors'] == [] and freed['kept'] == {'alice': None}


BLANK_LOOKING = [(field, answer) for field in ('edit_rules', 'edit_address', 'edit_rule_sets') for answer in ('\n', '  ', ' \n\t')]
BLANK_LOOKING += [('edit_rules', '# keep them\n'), ('edit_address', ' , '), ('edit_rule_sets', ',')]


@pytest.mark.parametrize('field, answer', BLANK_LOOKING)
def test_a_blank_looking_answer_keeps_what_the_client_had(field, answer):
    """Only `-` empties a field: a stray line feed or comment in the survey's box must not drop every rule."""
    text = kept(make_plan(**DAVE))[PATH]
    again = make_plan(discovery=discovered(kept_clients={'erin': text}), edit_name='erin', **{field: answer})
    assert again['errors'] == [] and again['kept_clients']['write'] == [], again['errors']


def test_removing_a_client_not_kept_says_so():
    variables = dict(dns_servers=['1.1.1.1'], upstreams=UPSTREAMS, clients=CLIENTS)
    text = kept(make_plan(**DAVE))[PATH]
    checked = check_inventory(dict(variables, edit_name='ernie', edit_state='absent'), DISCOVERY['server'], kept={'erin': text})
    assert checked['errors'] == [] and checked['kept'] == {'erin': text}
    assert "client 'ernie' is not kept on the gateway: nothing to remove (kept: erin)" in checked['warnings']


def test_the_survey_asks_only_edit_variables_and_its_blank_defaults_keep():
    """AWX sends a question's default whenever the operator leaves it: any default but blank on an optional
    question would overwrite that field of the client at every edit (a default path of direct, silently)."""
    with open(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'docs', 'awx', 'client_survey.json')) as handle:
        spec = json.load(handle)['spec']
    assert set(question['variable'] for question in spec) == set('wgsplit_' + name for name in EDIT_VARIABLES)
    for question in spec:
        if not question['required']:
            assert question['default'] == '', question['variable']
        if question['type'] == 'multiplechoice' and question['default']:
            assert question['default'] in question['choices'], question['variable']
