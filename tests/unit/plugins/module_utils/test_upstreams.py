import os

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.wgsplit.gateway.plugins.module_utils import upstreams
from test_state_module import Exit, FakeModule

KEY = 'CUjF7TMWtRvzaUmyXzD8i29hWkpSMjhzjId1lBmsRxA='
PEER = 'DitbJyMLQb+VXwCs/8mQCt8M2byBvncLY+g/LkXYyUc='
PARAMS = dict(private_key=KEY, public_key=PEER, preshared_key=None, endpoint='us.example.com:51820',
              allowed_ips=['0.0.0.0/0', '::/0'], addresses=['10.10.0.2/32'], persistent_keepalive=25,
              mtu=1420, table='1001', rp_filter=None)


def test_parse_dump():
    dump = '%s\t%s\t51820\toff\n%s\t(none)\t192.0.2.1:51820\t0.0.0.0/0,10.1.2.3/32\t0\t0\t0\toff\n' % (KEY, PEER, PEER)
    private_key, peers = upstreams.parse_dump(dump)
    assert private_key == KEY
    assert peers == [dict(public_key=PEER, preshared_key=None, endpoint='192.0.2.1:51820',
                          allowed_ips=['0.0.0.0/0', '10.1.2.3/32'], persistent_keepalive=0)]


def test_render_config_puts_routes_in_the_table_and_keys_in_the_file_only():
    text = upstreams.render_config(PARAMS)
    assert 'Table = 1001' in text
    assert 'AllowedIPs = 0.0.0.0/0, ::/0' in text
    assert upstreams.config_table(text) == '1001'
    sync = upstreams.render_sync_config(PARAMS)
    assert 'Address' not in sync and 'Table' not in sync and 'PrivateKey = %s' % KEY in sync
    assert 'PostUp' not in text


def test_rp_filter_is_set_each_time_the_interface_comes_up():
    text = upstreams.render_config(dict(PARAMS, rp_filter=2))
    assert 'PostUp = echo 2 > /proc/sys/net/ipv4/conf/%i/rp_filter' in text


def test_config_without_table_is_auto():
    assert upstreams.config_table('[Interface]\nPrivateKey = x\n') == 'auto'


def test_table_routes_like_ip_j_route():
    assert upstreams.table_routes(['0.0.0.0/0', '::/0', '10.1.2.3/32', '10.2.0.0/16']) == [
        '4 10.1.2.3', '4 10.2.0.0/16', '4 default', '6 default']


def test_resolve_endpoint_keeps_the_live_address_of_a_literal():
    assert upstreams.resolve_endpoint('[2001:db8:0::1]:5', '[2001:db8::1]:5') == '[2001:db8::1]:5'


def test_the_configuration_it_writes_carries_the_marker_line():
    assert upstreams.owned_wireguard_config(upstreams.render_config(PARAMS))


class Logging(FakeModule):
    """A module whose commands are logged and succeed, but wg-quick strip of a file holding `refused`."""

    def __init__(self, params, refused=None):
        super(Logging, self).__init__()
        checked = ArgumentSpecValidator(**upstreams.ARGUMENTS).validate(params)
        assert not checked.error_messages, checked.error_messages
        self.params, self.log, self.refused = checked.validated_parameters, [], refused

    def get_bin_path(self, name, required=False):
        return '/usr/bin/' + name

    def run_command(self, argv, **_kwargs):
        self.log.append([os.path.basename(argv[0])] + list(argv[1:]))
        if argv[1:2] == ['strip'] and self.refused and self.refused in open(argv[2]).read():
            return 1, '', 'refused'
        return 0, '', ''


def three_upstreams(tmp_path, boots, refused=None):
    """WgUpstream over wg-up-1 to 3 whose files are in place and interfaces up, each with its boot state in `boots`
    and wanted enabled but wg-up-3; the module, the call, the states."""
    specs = [dict([(key, value) for key, value in PARAMS.items() if value is not None], name='wg-up-%d' % number)
             for number in (1, 2, 3)]
    module = Logging(dict(upstreams=specs, config_dir=str(tmp_path)), refused)
    call = upstreams.WgUpstream(module)
    interface = dict(wireguard=True, up=True, mtu=1420, private_key=KEY, peers=[], addresses=[], routes=None, rp_filter=None)
    current, wanted = {}, {}
    for upstream, boot in zip(call.upstreams, boots):
        text = upstreams.render_config(upstream.params)
        (tmp_path / ('%s.conf' % upstream.name)).write_text(text)
        (tmp_path / ('%s.conf' % upstream.name)).chmod(0o600)
        current[upstream.name] = dict(config=text, boot=boot, interface=interface)
        wanted[upstream.name] = dict(current[upstream.name], boot=upstream.name != 'wg-up-3')
    return module, call, current, wanted


def test_a_key_spelled_another_way_is_masked_in_its_canonical_spelling_too(tmp_path):
    """The last base64 character has two unused bits: `...B=` is the key `...A=`, which the module then holds and
    writes; Ansible masks only the spelling it was given."""
    other = KEY[:-2] + 'B='
    module = Logging(dict(dict((key, value) for key, value in PARAMS.items() if value is not None), private_key=other,
                          name='wg-up-1', config_dir=str(tmp_path), enabled=False))
    call = upstreams.WgUpstream(module)
    call.upstreams[0].normalize()
    assert call.upstreams[0].params['private_key'] == KEY and KEY in module.no_log_values
    assert PEER not in module.no_log_values  # a public key is no secret


def test_boot_changes_of_every_interface_are_one_systemctl_call_per_verb(tmp_path):
    """Each systemctl enable or disable reloads the manager: four upstreams enabled one by one cost half a second."""
    module, call, current, wanted = three_upstreams(tmp_path, [False, False, True])
    call.apply(current, wanted)
    assert module.log == [['systemctl', 'enable', 'wg-quick@wg-up-1.service', 'wg-quick@wg-up-2.service'],
                          ['systemctl', 'disable', 'wg-quick@wg-up-3.service']]
    assert [upstream.actions for upstream in call.upstreams] == [
        ['enable wg-quick@wg-up-1.service'], ['enable wg-quick@wg-up-2.service'], ['disable wg-quick@wg-up-3.service']]


def test_an_interface_failing_leaves_no_boot_state_unset(tmp_path):
    """The boot states are changed before any interface: one failing later (its file refused) cannot lose them."""
    module, call, current, wanted = three_upstreams(tmp_path, [False, False, True], refused='10.10.9.9')
    wanted['wg-up-2'] = dict(wanted['wg-up-2'], config=current['wg-up-2']['config'] + 'Address = 10.10.9.9/32\n')
    with pytest.raises(Exit):
        call.apply(current, wanted)
    assert module.result['failed'] and 'does not parse' in module.result['msg']
    assert module.log[:2] == [['systemctl', 'enable', 'wg-quick@wg-up-1.service', 'wg-quick@wg-up-2.service'],
                              ['systemctl', 'disable', 'wg-quick@wg-up-3.service']]
    assert module.log[2][:2] == ['wg-quick', 'strip'] and len(module.log) == 3
