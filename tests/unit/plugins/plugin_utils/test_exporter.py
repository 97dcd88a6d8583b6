"""The metrics exporter's files in the plan: written only when they differ, the timer started only when it is not
running (or something changed), and with metrics turned off what the collection wrote removed."""
import json

from ansible_collections.wgsplit.gateway.plugins.module_utils.metrics import main as exporter_main
from ansible_collections.wgsplit.gateway.plugins.plugin_utils import exporter

from test_plan import discovered, make_plan


def found_as_planned(metrics):
    return dict(files=dict((item['path'], dict(text=item['content'], mode=item['mode'])) for item in metrics['files']),
                textfile='/var/lib/prometheus/node-exporter/wgsplit.prom', timer_enabled=True, timer_active=True)


def test_metrics_on_write_the_exporter_its_configuration_and_units_then_nothing():
    first = make_plan(metrics=True)['metrics']
    assert [(item['path'], item['mode'], item['write']) for item in first['files']] == [
        ('/etc/wgsplit/metrics/exporter', '0755', True), ('/etc/wgsplit/metrics/config.json', '0600', True),
        ('/etc/systemd/system/wgsplit-metrics.service', '0644', True), ('/etc/systemd/system/wgsplit-metrics.timer', '0644', True)]
    assert first['start'] and not first['stop'] and first['remove'] == []
    again = make_plan(metrics=True, discovery=discovered(metrics=found_as_planned(first)))['metrics']
    assert not [item for item in again['files'] if item['write']] and not again['start']


def test_the_exporter_is_the_metrics_module_and_its_configuration_names_what_to_count():
    planned = make_plan(metrics=True, metrics_interval=15)
    files = dict((item['path'], item['content']) for item in planned['metrics']['files'])
    program = files['/etc/wgsplit/metrics/exporter']
    assert program.startswith('#!/usr/bin/python3\n') and 'def main(argv=None):' in program
    assert 'import ansible' not in program  # it runs without Ansible
    config = json.loads(files['/etc/wgsplit/metrics/config.json'])
    assert config['textfile'] == '/var/lib/prometheus/node-exporter/wgsplit.prom'
    assert config['upstreams'][0] == dict(name='us', interface='wg-up-1', handshake_limit=180 + 25 + 20)
    assert config['clients'][0]['counters'] == planned['clients'][0]['counters']
    assert 'OnUnitActiveSec=15s' in files['/etc/systemd/system/wgsplit-metrics.timer']
    service = files['/etc/systemd/system/wgsplit-metrics.service']
    assert 'ReadWritePaths=-/var/lib/prometheus/node-exporter\n' in service
    assert 'StartLimitIntervalSec=0\n' in service  # a scrape may start it by hand, any number of times
    assert callable(exporter_main)


def test_a_changed_configuration_is_written_and_refreshes_the_metrics_at_once():
    first = make_plan(metrics=True)['metrics']
    changed = make_plan(metrics=True, metrics_textfile_dir='/srv/metrics/',
                        discovery=discovered(metrics=found_as_planned(first)))['metrics']
    assert [item['path'] for item in changed['files'] if item['write']] == [
        '/etc/wgsplit/metrics/config.json', '/etc/systemd/system/wgsplit-metrics.service']
    assert changed['start'] and changed['textfile_dir'] == '/srv/metrics'


def test_metrics_off_remove_what_the_collection_wrote_and_only_its_metrics_file():
    found = found_as_planned(make_plan(metrics=True)['metrics'])
    off = make_plan(discovery=discovered(metrics=found))['metrics']
    assert off['files'] == [] and off['stop'] and not off['start']
    assert off['remove'] == sorted(found['files']) + ['/var/lib/prometheus/node-exporter/wgsplit.prom', '/etc/wgsplit/metrics']
    foreign = dict(found, textfile='/etc/passwd')  # a configuration that names another file: it is left alone
    assert '/etc/passwd' not in make_plan(discovery=discovered(metrics=foreign))['metrics']['remove']
    assert make_plan()['metrics'] == dict(directory='/etc/wgsplit/metrics', timer='wgsplit-metrics.timer', files=[],
                                          start=False, stop=False, remove=[])


def test_metrics_go_with_absent():
    found = found_as_planned(make_plan(metrics=True)['metrics'])
    absent = make_plan(metrics=True, state='absent', discovery=discovered(metrics=found))['metrics']
    assert absent['files'] == [] and absent['stop'] and '/etc/wgsplit/metrics/exporter' in absent['remove']
    assert exporter.TEXTFILE_NAME == 'wgsplit.prom'


def test_a_new_textfile_directory_removes_the_file_of_the_old_one_and_only_a_file_the_collection_names():
    found = found_as_planned(make_plan(metrics=True)['metrics'])
    moved = make_plan(metrics=True, metrics_textfile_dir='/srv/metrics', discovery=discovered(metrics=found))['metrics']
    assert moved['remove'] == ['/var/lib/prometheus/node-exporter/wgsplit.prom']
    for textfile in ('wgsplit.prom', '/var/lib/../../etc/wgsplit.prom', '/srv/other.prom', None):
        odd = make_plan(metrics=True, metrics_textfile_dir='/srv/metrics', discovery=discovered(metrics=dict(found, textfile=textfile)))
        assert odd['metrics']['remove'] == [], textfile
