"""What the host matcher tells the user, pinned where a mutation run found it unpinned.

Every malformed key the README lists is refused with an error that names the key and
says what is wrong; ``explain`` shows each candidate with its verdict and reason; and the
edges of valid keys (port 1 and 65535, 63-character labels, an account on an IPv6 key).
"""
from __future__ import annotations

import pytest

from pwb_oauth_ext.errors import ConfigError
from pwb_oauth_ext.network.hosts import HostTable, parse_key


@pytest.mark.parametrize(('key', 'problem'), [
    ('', 'the key is empty'),
    ('user@', "the host after '@' is empty"),
    ('@en.wikipedia.org', "the account before '@' is empty"),
    ('a@b@c', "a key holds at most one '@' (between account and host)"),
    ('**.org', "'*' may only stand alone or as the whole first label, as in '*.wikipedia.org'"),
    ('*foo.org', "'*' may only stand alone or as the whole first label, as in '*.wikipedia.org'"),
    ('foo.*.org', "'*' may only stand alone or as the whole first label, as in"
                  " '*.wikipedia.org'"),
    ('*.', "'*.' needs a domain after it, as in '*.wikipedia.org'"),
    ('.org', 'the host is not a valid DNS name (a label is empty or longer than 63'
             ' characters)'),
    ('a_b!.org', "the host is not a valid DNS name ('a_b!' is not a valid DNS label)"),
    ('*.0.0.1', 'wildcards apply to DNS names, not IP addresses'),
    ('::1', "write an IPv6 address in brackets: '[::1]' or '[::1]:8080'"),
    ('[::1', "an IPv6 address lacks its closing ']'"),
    ('[::1]x', "only ':port' may follow an IPv6 address in brackets"),
    ('[::g]', "'::g' is not an IPv6 address"),
    ('host:0', 'port 0 is not between 1 and 65535'),
    ('host:65536', 'port 65536 is not between 1 and 65535'),
    ('host:abc', "port 'abc' is not a number"),
    ('https://en.wikipedia.org', 'write the host only, without scheme or path'),
    ('en wikipedia.org', 'the host contains whitespace'),
    (5, 'keys must be strings, not int'),
])
def test_a_malformed_key_is_refused_naming_it_and_the_problem(key: object,
                                                              problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_key(key)
    assert str(info.value).startswith(f'config.authenticate key {key!r}: {problem}. ')
    assert 'A valid key is a host' in str(info.value)


def test_keys_that_normalise_alike_are_refused_naming_both() -> None:
    with pytest.raises(ConfigError) as info:
        HostTable({'Example.org': 1, 'example.org:443': 2})
    assert str(info.value).startswith(
        "config.authenticate keys 'Example.org' and 'example.org:443' are the same key"
        " 'example.org' after normalisation")
    assert 'keep only one of them' in str(info.value)


@pytest.mark.parametrize('key', ['host:1', 'host:65535', 'a' * 63 + '.org',
                                 '*.' + 'b' * 63 + '.org'])
def test_the_edges_of_valid_keys_are_accepted(key: str) -> None:
    assert parse_key(key).original == key


def test_a_64_character_label_is_refused() -> None:
    with pytest.raises(ConfigError, match='longer than 63 characters'):
        parse_key('a' * 64 + '.org')


def test_an_account_on_an_ipv6_key_applies_to_that_account_only() -> None:
    key = parse_key('BotB@[::1]:8080')
    assert (key.account, key.host, key.port) == ('BotB', '::1', 8080)
    table = HostTable({'BotB@[::1]:8080': 'botb'})
    assert table.lookup('::1', 8080, 'BotB').value == 'botb'
    assert table.lookup('::1', 8080, 'BotC') is None
    assert table.lookup('::1', 8080) is None


@pytest.mark.parametrize('host', ['.example.org', 'a..example.org'])
def test_a_malformed_request_host_never_gets_a_wildcards_credentials(host: str) -> None:
    table = HostTable({'*.example.org': 'secret'})
    try:
        match = table.lookup(host, None)
    except ValueError:
        return  # refused outright: fine
    assert match is None


TABLE = {'en.wikipedia.org': 1, '*.wikipedia.org': 2, 'BotB@*': 3,
         'en.wikipedia.org:8080': 4, '*': 5, '*.org': 6, 'BotC@en.wikipedia.org': 7}


def test_explain_lists_every_candidate_with_its_verdict_and_reason() -> None:
    explanation = HostTable(TABLE).explain('https://en.wikipedia.org/wiki/X', 'BotB')
    assert explanation.format().splitlines() == [
        'https://en.wikipedia.org/wiki/X: host en.wikipedia.org, default port, account BotB',
        '   BotC@en.wikipedia.org  skipped: account BotC differs (not BotB)',
        "-> BotB@*                 used: account BotB, '*' (any host)",
        '   en.wikipedia.org:8080  skipped: port 8080 differs (the request uses the default'
        ' port)',
        '   en.wikipedia.org       outranked: exact host en.wikipedia.org',
        '   *.wikipedia.org        outranked: wildcard *.wikipedia.org (suffix of 2 labels)',
        '   *.org                  outranked: wildcard *.org (suffix of 1 label)',
        "   *                      outranked: '*' (any host)",
        "  => credentials of key 'BotB@*'",
    ]
    assert [(c.key.original, c.matched) for c in explanation.candidates] == [
        ('BotC@en.wikipedia.org', False), ('BotB@*', True), ('en.wikipedia.org:8080', False),
        ('en.wikipedia.org', True), ('*.wikipedia.org', True), ('*.org', True), ('*', True)]


def test_explain_without_an_account_and_on_another_port() -> None:
    explanation = HostTable(TABLE).explain('http://wikipedia.org:8080/', None)
    assert explanation.format().splitlines() == [
        'http://wikipedia.org:8080/: host wikipedia.org, port 8080, no account',
        '   BotB@*           skipped: account BotB differs (the request has no account)',
        "   *.wikipedia.org  skipped: '*.wikipedia.org' matches subdomains only, not"
        " wikipedia.org itself; add a key 'wikipedia.org'",
        '-> *.org            used: wildcard *.org (suffix of 1 label)',
        "   *                outranked: '*' (any host)",
        "  => credentials of key '*.org'",
    ]
    assert [c.matched for c in explanation.candidates] == [False, False, True, True]
    on_port = HostTable({'en.wikipedia.org:8080': 1}).explain('https://en.wikipedia.org:9/')
    assert on_port.format().splitlines()[1] == (
        '   en.wikipedia.org:8080  skipped: port 8080 differs (not 9)')


def test_explain_when_no_key_applies() -> None:
    explanation = HostTable({'a.example': 1}).explain('http://[::1]:8080/')
    assert explanation.format().splitlines() == [
        'http://[::1]:8080/: host [::1], port 8080, no account',
        '  no config.authenticate key applies to this host',
        '  => no credentials: requests to this host are anonymous',
    ]
