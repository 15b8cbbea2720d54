"""Hypothesis properties of the host matcher: containment, determinism, agreement."""
from __future__ import annotations

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from urllib3.util import parse_url

from pwb_oauth_ext.errors import ConfigError
from pwb_oauth_ext.network.hosts import HostTable, KeyKind, normalize_host, parse_key, split_url

# A small label alphabet so that generated keys and hosts often overlap, plus labels
# that look alike without sharing a label boundary ('wiki' / 'xwiki' / 'wiki-x').
# 'straße' (IDNA 2003 made it 'strasse'), Greek with a final sigma and a ZWJ after a
# virama are encoded differently by IDNA 2003 and by requests (UTS 46 / IDNA 2008).
LABELS = ['a', 'b', 'org', 'wiki', 'xwiki', 'wiki-x', 'en', 'm', 'w1', 'bücher', 'straße',
          'strasse', 'σίσυφος', 'ΣΊΣΥΦΟΣ', 'क्\u200d', 'क्']
label = st.sampled_from(LABELS)
dns_name = st.lists(label, min_size=1, max_size=4).map('.'.join)
port = st.sampled_from([None, 80, 443, 8080, 8081])
key_port = st.sampled_from([None, 8080, 8081])
account = st.sampled_from([None, 'BotA', 'BotB'])
request_account = st.sampled_from([None, 'BotA', 'botB', 'Bot_C'])
ip_host = st.sampled_from(['127.0.0.1', '10.0.0.1', '::1', '2001:db8::1'])
request_host = st.one_of(dns_name, ip_host)

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)


def idna(host: str) -> str:
    """The host requests connects to (its own URL preparation, then urllib3's parser)."""
    if ':' in host or host.rsplit('.', 1)[-1].isdigit():
        return host
    prepared = requests.Request('GET', f'http://{host}/').prepare().url
    return parse_url(prepared).host


@st.composite
def key_text(draw) -> str:
    """A valid key in some spelling: case, trailing dot, default ports, accounts."""
    kind = draw(st.sampled_from(['exact', 'wildcard', 'wildcard', 'wildcard', 'any', 'ip']))
    if kind == 'exact':
        host = draw(dns_name)
    elif kind == 'wildcard':
        host = '*.' + draw(dns_name)
    elif kind == 'any':
        host = '*'
    else:
        address = draw(ip_host)
        host = f'[{address}]' if ':' in address else address
    if kind in ('exact', 'wildcard'):
        if draw(st.booleans()):
            host = host.upper()
        if draw(st.booleans()):
            host += '.'
    chosen_port = draw(st.sampled_from([None, 80, 443, 8080, 8081]))
    if chosen_port is not None:
        host = f'{host}:{chosen_port}'
    name = draw(st.sampled_from([None, None, None, 'BotA', 'botB', 'Bot_B', 'bot  a']))
    return host if name is None else f'{name}@{host}'


@st.composite
def entries(draw) -> dict[str, int]:
    """A config.authenticate mapping with no two keys that normalise alike."""
    texts = draw(st.lists(key_text(), min_size=0, max_size=12))
    chosen: dict[str, int] = {}
    identities = set()
    for number, text in enumerate(texts):
        identity = parse_key(text).identity
        if identity not in identities:
            identities.add(identity)
            chosen[text] = number
    return chosen


def draw_request_host(data, table_entries) -> str:
    """A request host, usually one that some key in the table is about."""
    if not table_entries or data.draw(st.integers(0, 3)) == 0:
        return data.draw(request_host)
    key = parse_key(data.draw(st.sampled_from(sorted(table_entries))))
    if key.kind is KeyKind.EXACT:
        return key.host
    if key.kind is KeyKind.WILDCARD:
        prefix = data.draw(dns_name)
        # The suffix itself, a subdomain, and a look-alike glued on without a dot.
        return data.draw(st.sampled_from([key.host, f'{prefix}.{key.host}',
                                          f'{prefix}{key.host}']))
    return data.draw(request_host)


def url_of(host: str, request_port: int | None) -> str:
    netloc = f'[{host}]' if ':' in host else host
    if request_port is not None:
        netloc += f':{request_port}'
    return f'https://{netloc}/w/api.php'


def reference_winner(table_entries, host, request_port, user):
    """Brute force over every key, straight from the README's precedence table."""
    host = idna(host).lower()
    request_port = None if request_port in (80, 443) else request_port
    user = parse_key(f'{user}@x').account if user else None
    is_ip = ':' in host or host.rsplit('.', 1)[-1].isdigit()
    best = None
    for text in table_entries:
        key = parse_key(text)
        if key.account is not None and key.account != user:
            continue
        if key.port is not None and key.port != request_port:
            continue
        if key.kind is KeyKind.EXACT:
            specificity = (0, 0)
            applies = key.host == host
        elif key.kind is KeyKind.WILDCARD:
            specificity = (1, -len(key.host.split('.')))
            applies = not is_ip and host.endswith('.' + key.host)
        else:
            specificity = (2, 0)
            applies = True
        if applies:
            rank = (key.account is None, specificity, key.port is None)
            if best is None or rank < best[0]:
                best = (rank, text)
    return None if best is None else best[1]


@PROPERTY_SETTINGS
@given(suffix=dns_name, host=request_host, prefix=dns_name, extend=st.booleans(),
       request_port=port)
def test_wildcard_never_matches_outside_its_suffix(suffix, host, prefix, extend,
                                                    request_port):
    if extend:
        host = f'{prefix}.{suffix}'  # a true label-boundary extension of the suffix
    table = HostTable({'*.' + suffix: 'value'})
    match = table.lookup(host, request_port)
    ascii_host, ascii_suffix = idna(host).lower(), idna(suffix)
    is_extension = (':' not in host and not host.rsplit('.', 1)[-1].isdigit()
                    and ascii_host.endswith('.' + ascii_suffix))
    assert (match is not None) == is_extension
    # Gluing the suffix to a label without a dot never matches.
    assert table.lookup(prefix + suffix, request_port) is None or (
        (prefix + suffix).endswith('.' + suffix))


@PROPERTY_SETTINGS
@given(table_entries=entries(), data=st.data(), request_port=port, user=request_account)
def test_precedence_does_not_depend_on_insertion_order(table_entries, data, request_port,
                                                       user):
    host = draw_request_host(data, table_entries)
    order = data.draw(st.permutations(list(table_entries)))
    shuffled = {key: table_entries[key] for key in order}
    first = HostTable(table_entries).lookup(host, request_port, user)
    second = HostTable(shuffled).lookup(host, request_port, user)
    assert (first is None) == (second is None)
    if first is not None:
        assert first.key == second.key
        assert first.value == second.value
    url = url_of(host, request_port)
    assert HostTable(table_entries).explain(url, user).format() == (
        HostTable(shuffled).explain(url, user).format())


@PROPERTY_SETTINGS
@given(table_entries=entries(), data=st.data(), request_port=port, user=request_account)
def test_explain_winner_equals_lookup(table_entries, data, request_port, user):
    host = draw_request_host(data, table_entries)
    table = HostTable(table_entries)
    url = url_of(host, request_port)
    explanation = table.explain(url, user)
    assert explanation.winner == table.lookup_url(url, user)
    assert explanation.winner == table.lookup(host, request_port, user)
    matched = [candidate.key for candidate in explanation.candidates if candidate.matched]
    assert (matched[0] if matched else None) == (
        None if explanation.winner is None else explanation.winner.key)


@PROPERTY_SETTINGS
@given(table_entries=entries(), data=st.data(), request_port=port, user=request_account)
def test_lookup_agrees_with_brute_force_precedence(table_entries, data, request_port, user):
    host = draw_request_host(data, table_entries)
    match = HostTable(table_entries).lookup(host, request_port, user)
    expected = reference_winner(table_entries, host, request_port, user)
    assert (None if match is None else match.key.original) == expected


@PROPERTY_SETTINGS
@given(text=key_text())
def test_normalisation_is_idempotent(text):
    key = parse_key(text)
    again = parse_key(key.canonical)
    assert again.identity == key.identity
    assert again.canonical == key.canonical
    assert str(key) == text


# Characters where the encodings differ, and some that requests refuses.
tricky_label = st.text(alphabet='aAßςΣİ\u03c3\u200d\u200c\u094dक-xn0\uff45', min_size=1,
                       max_size=6)


@PROPERTY_SETTINGS
@given(labels=st.lists(tricky_label, min_size=1, max_size=3))
def test_keys_and_urls_name_the_host_requests_connects_to(labels):
    host = '.'.join(labels)
    url = f'http://{host}:8080/w/api.php'
    try:
        connected = parse_url(requests.Request('GET', url).prepare().url).host
    except requests.exceptions.RequestException:
        connected = None
    if connected is None:
        with pytest.raises(ValueError):
            split_url(url)
        with pytest.raises(ConfigError):
            parse_key(host)
        return
    assert split_url(url) == (connected, 8080)
    try:
        key = parse_key(host)
    except ConfigError:
        return  # e.g. an empty label: refused as a key, whatever requests makes of it
    assert key.host == connected
    assert HostTable({host: 'v'}).lookup_url(url) is not None


url_piece = st.sampled_from(['127.0.0.1', 'a.example', 'b.example', ':8080', ':1', '@', '\\',
                             '/', '?', '#', 'user:pw', '%40', '.', '[::1]', 'x'])


@PROPERTY_SETTINGS
@given(pieces=st.lists(url_piece, min_size=1, max_size=7))
def test_a_raw_url_names_the_host_and_port_requests_connects_to(pieces):
    """urlsplit and urllib3 disagree on URLs like ``http://a.example:1\\@127.0.0.1/``;
    only the connection counts, so the raw URL, the prepared one and urllib3 must agree."""
    url = 'http://' + ''.join(pieces)
    try:
        prepared = requests.Request('GET', url).prepare().url
    except requests.exceptions.RequestException:
        return
    connected = parse_url(prepared)
    try:
        expected = split_url(prepared)
    except ValueError:
        return  # e.g. port 0 or a host no key could name: nothing to compare
    assert expected[0] == normalize_host(connected.host)   # case, trailing dot, brackets
    assert expected[1] == (None if connected.port in (80, 443) else connected.port)
    assert split_url(url) == expected
