from ansible_collections.wgsplit.gateway.plugins.module_utils import upstreams

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
