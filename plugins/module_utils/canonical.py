# -*- coding: utf-8 -*-
# Copyright: (c) 2026, wgsplit.gateway developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The canonical form of every value that reaches a file, a command or a kernel object.

The inventory check (on the controller) and the modules (on the host) parse values with these
functions, so a value is accepted by the same rules everywhere, and what is written is always the
text of the parsed object, never the caller's string. Python's `ipaddress` keeps an IPv6 scope ID
verbatim, newlines included, and a regex ending in `$` matches before a trailing newline: so every
string is first refused if it holds a control character or whitespace, scope IDs are refused, and
names are matched whole.

Each function raises `Invalid` (a ValueError) with a reason that does not repeat the value; callers
name the item and, unless it is a secret, the value.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import binascii
import functools
import ipaddress
import re
import socket
import unicodedata

# Linux interface names: at most 15 bytes, no '/', ':' or whitespace; the collection keeps to a safe subset
# that no tool reads as an option (a leading '-') or a wildcard (iptables' trailing '+').
INTERFACE_NAME = re.compile(r'[A-Za-z0-9_.=][A-Za-z0-9_.=+-]{0,14}')
# Chain and set names: iptables refuses a chain name that starts with '-' (it would read an option).
CHAIN_NAME = re.compile(r'[A-Za-z0-9_][A-Za-z0-9_-]{0,27}')
BUILTIN_CHAINS = ('PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING')
# An IPv4 network written as ipaddress prints it (no leading zero, a prefix length or none): most lines of a list.
IPV4_NETWORK = re.compile(r'((?:(?:0|[1-9][0-9]{0,2})\.){3}(?:0|[1-9][0-9]{0,2}))(?:/(0|[1-9][0-9]?))?')
SET_NAME = re.compile(r'[A-Za-z0-9_][A-Za-z0-9_.:-]{0,30}')
HOST_LABEL = re.compile(r'(?!-)[a-z0-9-]{1,63}(?<!-)')
PORT = re.compile(r'[1-9][0-9]{0,4}')
ENDPOINT = re.compile(r'\[(?P<v6>[^\[\]]+)\]:(?P<v6port>[^:]+)|(?P<host>[^:\[\]]+):(?P<port>[^:]+)')
WIREGUARD_KEY_BYTES = 32
# Text of a whole number (the collection's numbers fit 32 bits; longer text is not a number it takes).
DECIMAL = re.compile(r'[0-9]{1,20}')
HEXADECIMAL = re.compile(r'0[xX][0-9a-fA-F]{1,16}')


class Invalid(ValueError):
    """A value refused. `reason` says why without quoting the value; `hint` (optional) names what the value is read
    as (the network it meant) and is shown only where the value itself may be shown."""

    def __init__(self, reason, hint=None):
        super().__init__('%s (%s)' % (reason, hint) if hint else reason)
        self.reason = reason


def plain_text(value):
    """A non-empty string without control characters, whitespace or other invisible characters."""
    if not isinstance(value, str):
        raise Invalid('must be a string, not %s' % type_name(value))
    if not value:
        raise Invalid('must not be empty')
    if value.isascii() and value.isprintable() and ' ' not in value:
        return value  # the common case, without a look at each character (list files hold 100,000s of lines)
    for char in value:
        if char.isspace() or unicodedata.category(char)[0] in 'CZ':
            raise Invalid('holds whitespace or a control character (%s)' % unicode_name(char))
    return value


def safe_strings(value, path='value'):
    """Raise Invalid naming the first string inside `value` (any nesting) that holds a control character.

    Modules call it on everything they write into a file or a command, whatever the caller passed."""
    if isinstance(value, str):
        # Fast path: a printable string holds no character of category C, Zl or Zp (nor any other than space
        # of Zs, which the loop below would let through anyway).
        if value.isprintable():
            return value
        for char in value:
            if unicodedata.category(char)[0] == 'C' or char in '\n\r\x0b\x0c\x85\u2028\u2029':
                raise Invalid('%s holds a control character (%s)' % (path, unicode_name(char)))
    elif isinstance(value, dict):
        for key, item in value.items():
            safe_strings(key, path)
            safe_strings(item, '%s.%s' % (path, key))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            safe_strings(item, '%s[%d]' % (path, index))
    return value


def type_name(value):
    if isinstance(value, bool):
        return 'a boolean'
    if isinstance(value, dict):
        return 'a mapping'
    if isinstance(value, (list, tuple)):
        return 'a list'
    if value is None:
        return 'null'
    if isinstance(value, str):
        return 'a string'
    if isinstance(value, (int, float)):
        return 'a number'
    return 'a %s' % type(value).__name__


def describe(value):
    """A value for a message: repr() shows control characters escaped; long values are cut; a whole number
    too long to print (Python refuses past 4,300 digits) is only named."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return 'a number of %d bits' % value.bit_length()
    try:
        text = repr(value)
    except ValueError:  # a huge number nested in a list or mapping
        return type_name(value)
    return text if len(text) <= 80 else text[:77] + '...'


def unicode_name(char):
    return 'U+%04X' % ord(char)


def _ip_text(value):
    """The text of an address-like value, refusing scope IDs (they are interface names in disguise)."""
    text = plain_text(value)
    if '%' in text:
        raise Invalid('IPv6 scope IDs (%...) are not accepted')
    return text


def _parsed(parse, value, reason):
    """str() of what `parse` makes of the value's text; Invalid with `reason` when it cannot."""
    text = _ip_text(value)
    try:
        return str(parse(text))
    except ValueError:
        raise Invalid(reason)


def address(value):
    """An IPv4 or IPv6 address, as ipaddress prints it ('fdcc::2', '10.8.0.2')."""
    return _parsed(ipaddress.ip_address, value, 'not an IPv4 or IPv6 address')


def interface_address(value):
    """An address with its prefix length ('10.10.0.2/32'); a bare address gets the host length."""
    return _parsed(ipaddress.ip_interface, value, 'not an address with an optional /prefix')


def ipv4_network_text(text):
    """What ipaddress prints of `text` when it is an IPv4 network written as ipaddress prints it, else None (then
    ipaddress decides). Integer checks, no objects: three lists of 100,000 networks took ipaddress 5 s."""
    match = IPV4_NETWORK.fullmatch(text)
    if not match:
        return None
    address, length = match.group(1, 2)
    try:
        value = int.from_bytes(socket.inet_aton(address), 'big')  # the pattern leaves it only octets over 255 to refuse
    except OSError:
        return None
    length = int(length) if length else 32
    if length > 32 or value & ((1 << (32 - length)) - 1):
        return None  # host bits set: ipaddress says so (or masks them)
    return '%s/%d' % (address, length)


@functools.lru_cache(maxsize=65536)
def _network_text(text, strict):
    """What ipaddress prints of the network `text`, remembered: a plan names the same networks for many clients,
    and the modules parse each rule's on every reading (a refused text raises every time)."""
    return ipv4_network_text(text) or str(ipaddress.ip_network(text, strict=strict))


def network(value, strict=True):
    """A network ('203.0.113.0/24'); with `strict`, host bits set are refused."""
    text = _ip_text(value)
    try:
        return _network_text(text, bool(strict))
    except ValueError as error:
        if 'has host bits set' in str(error):
            raise Invalid('has host bits set', hint='the network is %s' % ipaddress.ip_network(text, strict=False))
        raise Invalid('not an IPv4 or IPv6 network')


def host_address(value):
    """A single address, also written as a /32 or /128 network: its address ('10.10.2.1')."""
    parsed = ipaddress.ip_network(network(value, strict=True))
    if parsed.prefixlen != parsed.max_prefixlen:
        raise Invalid('not a single address')
    return str(parsed.network_address)


def family(value):
    """4 or 6, for a canonical address, interface address or network."""
    return 6 if ':' in value else 4


def hostname(value):
    """A DNS host name of letters, digits and hyphens, in lower case, without a trailing dot."""
    text = plain_text(value).lower()
    text = text[:-1] if text.endswith('.') else text
    labels = text.split('.')
    if len(text) > 253 or not all(HOST_LABEL.fullmatch(label) for label in labels):
        raise Invalid('not a host name (labels of a-z 0-9 -, at most 63 characters each, 253 in all)')
    if labels[-1].isdigit():
        raise Invalid('looks like an address')
    return text


def endpoint(value):
    """(host, port) of 'host:port', 'a.b.c.d:port' or '[v6]:port'; host canonical (address or host name)."""
    match = ENDPOINT.fullmatch(plain_text(value))
    if not match:
        raise Invalid('not host:port ([address]:port for IPv6)')
    port_text = match.group('v6port') or match.group('port')
    if not PORT.fullmatch(port_text) or int(port_text) > 65535:
        raise Invalid('port must be 1 to 65535')
    if match.group('v6') is not None:
        host = address(match.group('v6'))
        if family(host) != 6:
            raise Invalid('only IPv6 addresses go in brackets')
    else:
        try:
            host = address(match.group('host'))
        except Invalid:
            host = hostname(match.group('host'))
    return host, int(port_text)


def format_endpoint(host, port):
    return '[%s]:%d' % (host, port) if ':' in host else '%s:%d' % (host, port)


def wireguard_key(value):
    """A WireGuard key: 32 bytes in base64 (44 characters). The error never holds the value."""
    if not isinstance(value, str):
        raise Invalid('is not a WireGuard key (must be a string of 44 characters of base64)')
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = None
    if raw is None or len(raw) != WIREGUARD_KEY_BYTES:
        raise Invalid('is not a WireGuard key (44 characters of base64)')
    return base64.b64encode(raw).decode('ascii')


def interface_name(value):
    text = plain_text(value)
    if not INTERFACE_NAME.fullmatch(text) or text in ('.', '..'):
        raise Invalid('not an interface name (1 to 15 of A-Z a-z 0-9 _ . = + -, not starting with + or -)')
    if text.endswith('+'):
        raise Invalid('ends in +, which iptables reads as a wildcard for every interface it starts')
    return text


def integer(value, low, high):
    """A whole number in [low, high]; decimal or 0x-hexadecimal text is accepted and converted."""
    if isinstance(value, str) and DECIMAL.fullmatch(value):
        value = int(value, 10)
    elif isinstance(value, str) and HEXADECIMAL.fullmatch(value):
        value = int(value, 16)
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid('must be a whole number, not %s' % type_name(value))
    if not low <= value <= high:
        raise Invalid('must be from %d to %d' % (low, high))
    return value
