"""Which ``config.authenticate`` key applies to a request: a pure, Pywikibot-free matcher.

Pywikibot compares the URL's netloc with the keys as written, so ``EN.wikipedia.org``,
``en.wikipedia.org:443`` or ``localhost:8080`` silently miss a key that was meant for
them. This module normalises keys and request hosts alike and picks the most specific
key, in this order:

1. keys naming the request's account (``BotB@...``) before keys without an account;
2. then the exact host, then ``*.suffix`` by longest suffix (label boundaries only),
   then ``*``;
3. at equal host specificity, a key with a port before a key without one.

A catch-all key (``*``, ``*:port``) applies only to the host and port of the wiki a
request is for (``wiki=`` of ``lookup``/``explain``; by default the request's own, as
for a wiki's API URL): never to another port of that host, SPARQL endpoints,
toolforge or external links fetched without a site (``wiki=NO_WIKI``). The runtime
(``SessionAuth``), ``pwb_oauth_ext.explain`` and ``pwb-oauth explain`` all ask this
table, so they agree.

A key with a port matches only that port; a key without one matches any port. Ports 80
and 443 are dropped from keys and URLs alike, whatever the scheme, so ``example.org:443``
is ``example.org`` and ``http://example.org:443/`` has no port. Wildcards apply to DNS
names only; a bare ``*`` matches any host, IP addresses included.

The table is generic over its values: it never inspects them (the adapter stores
credential objects in it), and no value appears in a repr or in explanation text.
"""
from __future__ import annotations

import enum
import functools
import re
from collections.abc import Iterator, Mapping
from typing import ClassVar, Generic, TypeVar

from pwb_oauth_ext.errors import ConfigError

__all__ = [
    'NO_WIKI',
    'VALID_KEY_FORMS',
    'Candidate',
    'Explanation',
    'HostKey',
    'HostTable',
    'KeyKind',
    'Match',
    'normalize_account',
    'normalize_host',
    'parse_key',
    'requests_host',
    'split_url',
    'url_target',
]

T = TypeVar('T')

#: Ports that are dropped from keys and URLs: the defaults of http and https.
DEFAULT_PORTS = frozenset((80, 443))

VALID_KEY_FORMS = (
    "A valid key is a host ('en.wikipedia.org'), optionally with a port "
    "('localhost:8080', '[::1]:8080'), a wildcard for every subdomain "
    "('*.wikipedia.org', which does not match 'wikipedia.org' itself) or '*' for any "
    "host; each may be prefixed by an account ('BotB@en.wikipedia.org')."
)



class KeyKind(enum.Enum):
    """The host part of a key; the order is the precedence (exact first)."""

    EXACT = 0      # 'en.wikipedia.org', '127.0.0.1', '[::1]'
    WILDCARD = 1   # '*.wikipedia.org'
    ANY = 2        # '*': the catch-all, for the wiki a request is for only

    def __repr__(self) -> str:   # as written in code: HostKey's repr stays readable
        return f'KeyKind.{self.name}'


#: ``wiki=`` for a request that is for no wiki (no site in flight): no ``*`` applies.
NO_WIKI: tuple[str, int | None] = ('', None)
_MEMO_SIZE = 1024

# After IDNA encoding a DNS label holds only these; '_' occurs in real host names.
_LABEL_RE = re.compile(r'[a-z0-9_-]+\Z')
_USERNAME_RUN_RE = re.compile('[_ ]+')
_WHITESPACE_RE = re.compile(r'\s')


def _key_error(key: object, problem: str) -> ConfigError:
    return ConfigError(
        f'config.authenticate key {key!r}: {problem}. {VALID_KEY_FORMS}')


@functools.lru_cache(maxsize=512)
def normalize_account(name: str) -> str:
    """Normalise a user name as Pywikibot's ``normalize_username`` does.

    Runs of ``_`` and spaces become one space, the ends are stripped and the first
    letter is upper-cased, so ``botB@host`` and ``-user:BotB`` name the same account.
    A first letter whose upper case is several characters (``ß``) is kept, as
    MediaWiki does.
    """
    name = _USERNAME_RUN_RE.sub(' ', name).strip()
    first = name[:1]
    upper = first.upper()
    if len(upper) == 1:
        first = upper
    return first + name[1:]


def _is_ip_literal(host: str) -> bool:
    """Tell IP addresses from DNS names: IPv6 has ':', IPv4 ends in a numeric label.

    No top-level domain is all digits, so a numeric last label means an address.
    """
    return ':' in host or host.rpartition('.')[2].isdigit()


def _encode_dns_name(name: str) -> str:
    """IDNA-encode and lower-case a DNS name as requests does; UnicodeError/ValueError if unusable.

    Non-ASCII names go through :func:`requests_host`, so a key names exactly the host
    requests connects to (``straße.test`` is ``xn--strae-oqa.test``, not ``strasse.test``).
    """
    if name.isascii():
        ascii_name = name.lower()
        labels = ascii_name.split('.')
        for label in labels:
            if not label or len(label) > 63:
                raise ValueError('a label is empty or longer than 63 characters')
    else:
        ascii_name = requests_host(name)
        labels = ascii_name.split('.')
    for label in labels:
        if not _LABEL_RE.match(label):
            raise ValueError(f'{label!r} is not a valid DNS label')
    return ascii_name


# Characters that would end or change a URL's host part when one is built from a name.
_NOT_IN_HOST = re.compile(r'[/?#@\\\[\]:%\s\x00-\x1f\x7f]')


def requests_host(name: str) -> str:
    """The ASCII host requests connects to for the DNS name ``name``.

    requests hands the URL to urllib3's ``parse_url``, which IDNA-encodes each
    non-ASCII label (IDNA 2008, after Python's lower-casing, so a final sigma stays
    final), then encodes anything still non-ASCII with the ``idna`` package and UTS 46.
    This runs the same two steps. UnicodeError when requests would refuse the name.
    """
    if _NOT_IN_HOST.search(name):
        raise UnicodeError('the name holds characters that cannot be part of a host')
    from urllib3.exceptions import LocationParseError
    from urllib3.util import parse_url

    try:
        host = parse_url(f'http://{name}/').host or ''
    except (LocationParseError, ValueError):
        raise UnicodeError('requests refuses this name (invalid IDNA label)') from None
    if not host.isascii():
        import idna

        try:
            host = idna.encode(host, uts46=True).decode('ascii')
        except (idna.IDNAError, UnicodeError):
            raise UnicodeError('requests refuses this name (invalid IDNA label)') from None
    return host.lower()


def _normalize_ipv6(text: str) -> str:
    import ipaddress  # lazily: only keys and URLs with IPv6 literals need it

    return str(ipaddress.IPv6Address(text)).lower()


def _parse_port(text: str) -> int | None:
    """Port text to int, ``None`` for the default ports 80 and 443; ValueError if bad."""
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f'port {text!r} is not a number')
    port = int(text)
    if not 0 < port < 65536:
        raise ValueError(f'port {port} is not between 1 and 65535')
    return None if port in DEFAULT_PORTS else port


def _split_host_port(hostport: str) -> tuple[str, int | None, bool]:
    """Split ``host[:port]`` / ``[v6][:port]``; return (host, port, is_bracketed_ipv6)."""
    if hostport.startswith('['):
        address, bracket, rest = hostport[1:].partition(']')
        if not bracket:
            raise ValueError("an IPv6 address lacks its closing ']'")
        if rest and not rest.startswith(':'):
            raise ValueError("only ':port' may follow an IPv6 address in brackets")
        port = _parse_port(rest[1:]) if rest else None
        try:
            return _normalize_ipv6(address), port, True
        except ValueError:
            raise ValueError(f'{address!r} is not an IPv6 address') from None
    if hostport.count(':') > 1:
        raise ValueError("write an IPv6 address in brackets: '[::1]' or '[::1]:8080'")
    host, colon, port_text = hostport.partition(':')
    port = _parse_port(port_text) if colon else None
    return host, port, False


class _Frozen:
    """An immutable record with value equality, like a frozen dataclass.

    Hand-written because ``dataclasses`` costs milliseconds per class at import, and
    user-config.py imports this package on every Pywikibot start.
    """

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()
    _secret_fields: ClassVar[tuple[str, ...]] = ()  # kept out of repr()

    def _init(self, *values: object) -> None:
        for name, value in zip(self._fields, values):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f'{type(self).__name__} is immutable')

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f'{type(self).__name__} is immutable')

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        shown = ', '.join(f'{name}={getattr(self, name)!r}' for name in self._fields
                          if name not in self._secret_fields)
        return f'{type(self).__name__}({shown})'


class HostKey(_Frozen):
    """A parsed, normalised ``config.authenticate`` key."""

    _fields = ('original', 'account', 'kind', 'host', 'port')
    __slots__ = _fields
    original: str
    account: str | None
    kind: KeyKind
    host: str  # normalised host; the suffix (without '*.') for WILDCARD; '' for ANY
    port: int | None

    def __init__(self, original: str, account: str | None, kind: KeyKind, host: str,
                 port: int | None) -> None:
        self._init(original, account, kind, host, port)

    def __str__(self) -> str:
        return self.original

    @property
    def identity(self) -> tuple[str | None, KeyKind, str, int | None]:
        """What two keys must share to be the same key after normalisation."""
        return (self.account, self.kind, self.host, self.port)

    @property
    def canonical(self) -> str:
        """The normalised key as text; ``parse_key(k.canonical)`` gives ``k.identity``."""
        if self.kind is KeyKind.ANY:
            host = '*'
        elif self.kind is KeyKind.WILDCARD:
            host = '*.' + self.host
        elif ':' in self.host:
            host = f'[{self.host}]'
        else:
            host = self.host
        text = host if self.port is None else f'{host}:{self.port}'
        return text if self.account is None else f'{self.account}@{text}'

    @property
    def is_catch_all(self) -> bool:
        """``*`` or ``*:port``: applies only to the host and port of the wiki a request is for."""
        return self.kind is KeyKind.ANY

    @property
    def suffix_labels(self) -> int:
        """Label count of a wildcard's suffix: the longer, the more specific."""
        return self.host.count('.') + 1 if self.kind is KeyKind.WILDCARD else 0

    def describe(self) -> str:
        """Why this key matches when it does, e.g. ``wildcard *.wikipedia.org (...)``."""
        if self.kind is KeyKind.EXACT:
            text = f'exact host {self.canonical_host}'
        elif self.kind is KeyKind.WILDCARD:
            labels = self.suffix_labels
            text = (f'wildcard *.{self.host} '
                    f'(suffix of {labels} label{"s" if labels != 1 else ""})')
        else:
            text = "'*' (any host)"
        if self.port is not None:
            text += f', port {self.port}'
        if self.account is not None:
            text = f'account {self.account}, {text}'
        return text

    @property
    def canonical_host(self) -> str:
        return f'[{self.host}]' if ':' in self.host else self.host


def parse_key(key: object) -> HostKey:
    """Parse and normalise one ``config.authenticate`` key; ConfigError if unusable."""
    if not isinstance(key, str):
        raise _key_error(key, f'keys must be strings, not {type(key).__name__}')
    if not key:
        raise _key_error(key, 'the key is empty')
    if key.count('@') > 1:
        raise _key_error(key, "a key holds at most one '@' (between account and host)")
    account: str | None = None
    hostport = key
    if '@' in key:
        account_text, _, hostport = key.partition('@')
        account = normalize_account(account_text)
        if not account:
            raise _key_error(key, "the account before '@' is empty")
        if not hostport:
            raise _key_error(key, "the host after '@' is empty")
    if not hostport:
        raise _key_error(key, 'the host is empty')
    if _WHITESPACE_RE.search(hostport):
        raise _key_error(key, 'the host contains whitespace')
    if '/' in hostport:
        raise _key_error(key, 'write the host only, without scheme or path')
    try:
        host, port, is_ipv6 = _split_host_port(hostport)
    except ValueError as error:
        raise _key_error(key, str(error)) from None
    if is_ipv6:
        return HostKey(key, account, KeyKind.EXACT, host, port)
    if host == '*':
        return HostKey(key, account, KeyKind.ANY, '', port)
    kind = KeyKind.EXACT
    if host.startswith('*.'):
        kind = KeyKind.WILDCARD
        host = host[2:]
        if not host or host == '.':
            raise _key_error(key, "'*.' needs a domain after it, as in '*.wikipedia.org'")
    if host.endswith('.') and host != '.':
        host = host[:-1]  # the root label: 'example.org.' is 'example.org'
    if '*' in host:
        raise _key_error(
            key, "'*' may only stand alone or as the whole first label, as in "
                 "'*.wikipedia.org'")
    try:
        host = _encode_dns_name(host)
    except (UnicodeError, ValueError) as error:
        raise _key_error(key, f'the host is not a valid DNS name ({error})') from None
    if kind is KeyKind.WILDCARD and _is_ip_literal(host):
        raise _key_error(key, 'wildcards apply to DNS names, not IP addresses')
    return HostKey(key, account, kind, host, port)


def normalize_host(host: str) -> str:
    """Normalise a request's host (case, trailing dot, IDNA, IPv6 brackets).

    Raises ValueError for something that is not a host name or address.
    """
    if host.startswith('[') and host.endswith(']'):
        host = host[1:-1]
    if ':' in host:
        return _normalize_ipv6(host)
    host = host.removesuffix('.')
    if host.isascii():
        lowered = host.lower()
        if lowered and '..' not in lowered and not lowered.startswith('.'):
            return lowered  # the hot path: no label validation for request hosts
    try:
        return _encode_dns_name(host)
    except (UnicodeError, ValueError) as error:
        raise ValueError(f'{host!r} is not a valid host name ({error})') from None


@functools.lru_cache(maxsize=1024)
def split_url(url: str) -> tuple[str, int | None]:
    """The normalised ``(host, port)`` requests connects to for a URL.

    Port ``None`` when absent, 80 or 443. Parsed by urllib3's ``parse_url``, as requests
    does, not by ``urlsplit``: the two disagree on URLs such as
    ``http://other.host:1\\@127.0.0.1/``, and only the connection counts. Raises
    ValueError when the URL has no host or a bad port. Remembered per URL: a bot
    sends nearly all its requests to one api.php URL.
    """
    _scheme, host, port = url_target(url)
    return host, (None if port in DEFAULT_PORTS else port)


def wiki_host(url: str) -> str:
    """``host[:port]`` of a URL as the token store and ``central_wiki=`` name a wiki.

    ``split_url``'s host and port, an IPv6 address in brackets.
    """
    host, port = split_url(url)
    if ':' in host:
        host = f'[{host}]'
    return f'{host}:{port}' if port else host


@functools.lru_cache(maxsize=256)
def url_target(url: str) -> tuple[str, str, int | None]:
    """``(scheme, host, port)`` requests connects to for ``url``, host normalised.

    The scheme is '' for ``//host/...``; the port is as written (or None);
    ValueError when the URL has no host.
    """
    from urllib3.exceptions import LocationParseError
    from urllib3.util import parse_url

    try:
        parts = parse_url(url)
    except (LocationParseError, ValueError):
        raise ValueError(f'{url!r} is not a URL requests can send') from None
    if not parts.host or not (parts.scheme or url.startswith('//')):
        raise ValueError(f'{url!r} is not an absolute URL with a host')
    if parts.port == 0:
        raise ValueError(f'{url!r} has port 0')
    host = parts.host
    if not host.isascii():
        try:
            host = requests_host(host)
        except UnicodeError:
            raise ValueError(f'{url!r} has a host requests refuses') from None
    return (parts.scheme or '').lower(), normalize_host(host), parts.port


class Candidate(_Frozen):
    """One key considered for a request, and whether and why it matched."""

    _fields = ('key', 'matched', 'reason')
    __slots__ = _fields
    key: HostKey
    matched: bool
    reason: str

    def __init__(self, key: HostKey, matched: bool, reason: str) -> None:
        self._init(key, matched, reason)


class Match(_Frozen, Generic[T]):
    """The winning key of a lookup; ``value`` is kept out of the repr (secrets)."""

    _fields = ('key', 'value', 'reason')
    __slots__ = _fields
    _secret_fields = ('value',)
    key: HostKey
    value: T
    reason: str

    def __init__(self, key: HostKey, value: T, reason: str) -> None:
        self._init(key, value, reason)


class Explanation(_Frozen, Generic[T]):
    """The keys considered for a URL in precedence order, and the winner."""

    _fields = ('url', 'host', 'port', 'account', 'candidates', 'winner')
    __slots__ = _fields
    url: str
    host: str
    port: int | None
    account: str | None
    candidates: list[Candidate]
    winner: Match[T] | None

    def __init__(self, url: str, host: str, port: int | None, account: str | None,
                 candidates: list[Candidate], winner: Match[T] | None) -> None:
        self._init(url, host, port, account, candidates, winner)

    def format(self) -> str:
        """Readable text for error messages and ``pwb-oauth explain``; no values."""
        host = f'[{self.host}]' if ':' in self.host else self.host
        port = 'default port' if self.port is None else f'port {self.port}'
        account = 'no account' if self.account is None else f'account {self.account}'
        lines = [f'{self.url}: host {host}, {port}, {account}']
        if not self.candidates:
            lines.append('  no config.authenticate key applies to this host')
        width = max((len(c.key.original) for c in self.candidates), default=0)
        for candidate in self.candidates:
            is_winner = (self.winner is not None and candidate.matched
                         and candidate.key == self.winner.key)
            if is_winner:
                mark, verdict = '->', 'used'
            elif candidate.matched:
                mark, verdict = '  ', 'outranked'
            else:
                mark, verdict = '  ', 'skipped'
            lines.append(f'{mark} {candidate.key.original:<{width}}  '
                         f'{verdict}: {candidate.reason}')
        if self.winner is None:
            lines.append('  => no credentials: requests to this host are anonymous')
        else:
            lines.append(f'  => credentials of key {self.winner.key.original!r}')
        return '\n'.join(lines)

    __str__ = format   # print(_oauth.explain(url)) shows the text, not the record


def _host_suffixes(host: str) -> Iterator[str]:
    """Proper label suffixes of ``host``, longest first: a.b.c -> b.c, c."""
    index = host.find('.')
    while index != -1:
        yield host[index + 1:]
        index = host.find('.', index + 1)


class HostTable(Generic[T]):
    """``config.authenticate`` parsed and indexed once, for lookups by request.

    A lookup costs O(labels of the host): it probes dicts keyed by
    (account, host, port) for the host and each of its suffixes, never scanning keys.
    """

    def __init__(self, entries: Mapping[object, T]) -> None:
        self._matches: list[Match[T]] = []
        self._exact: dict[tuple[str | None, str, int | None], Match[T]] = {}
        self._wildcard: dict[tuple[str | None, str, int | None], Match[T]] = {}
        self._any: dict[tuple[str | None, int | None], Match[T]] = {}
        # Results by raw (host, port, account, wiki): a bot talks to a handful of hosts,
        # so after the first request a lookup is one dict hit. The table never changes.
        self._memo: dict[tuple[str, int | None, str | None, tuple[str, int | None] | None],
                         Match[T] | None] = {}
        seen: dict[tuple[str | None, KeyKind, str, int | None], HostKey] = {}
        for raw_key, value in entries.items():
            key = parse_key(raw_key)
            earlier = seen.get(key.identity)
            if earlier is not None:
                raise ConfigError(
                    f'config.authenticate keys {earlier.original!r} and {key.original!r} '
                    f'are the same key {key.canonical!r} after normalisation (case, '
                    'trailing dot, IDNA, ports 80/443 dropped); keep only one of them.')
            seen[key.identity] = key
            match = Match(key, value, key.describe())
            self._matches.append(match)
            if key.kind is KeyKind.EXACT:
                self._exact[(key.account, key.host, key.port)] = match
            elif key.kind is KeyKind.WILDCARD:
                self._wildcard[(key.account, key.host, key.port)] = match
            else:
                self._any[(key.account, key.port)] = match

    def __len__(self) -> int:
        return len(self._matches)

    @property
    def has_catch_all(self) -> bool:
        """True when a ``*`` key is in the table (only then does ``wiki=`` matter)."""
        return bool(self._any)

    def __repr__(self) -> str:
        return f'HostTable({[m.key.original for m in self._matches]!r})'

    def keys(self) -> list[HostKey]:
        """The parsed keys, in the order they were given."""
        return [match.key for match in self._matches]

    def items(self) -> list[tuple[HostKey, T]]:
        """The parsed keys with their values, in the order they were given."""
        return [(match.key, match.value) for match in self._matches]

    def lookup(self, host: str, port: int | None, account: str | None = None,
               wiki: tuple[str, int | None] | None = None) -> Match[T] | None:
        """The winning entry for a request to ``host:port`` as ``account``, or None.

        ``wiki`` is the normalised ``(host, port)`` of the wiki the request is for
        (``split_url`` of its URL), ``NO_WIKI`` for none, None for the request's own:
        a catch-all key applies only when the request goes there.
        """
        memo_key = (host, port, account, wiki)
        try:
            return self._memo[memo_key]
        except KeyError:
            pass
        match = self._lookup(host, port, account, wiki)
        if len(self._memo) >= _MEMO_SIZE:
            self._memo.clear()  # bounded: odd hosts (external links) must not pile up
        self._memo[memo_key] = match
        return match

    def _lookup(self, host: str, port: int | None, account: str | None,
                wiki: tuple[str, int | None] | None) -> Match[T] | None:
        host = normalize_host(host)
        if port in DEFAULT_PORTS:
            port = None
        catch_all = _on_wiki(host, port, wiki) and bool(self._any)
        accounts: tuple[str | None, ...] = (None,)
        if account:
            normalized = normalize_account(account)
            if normalized:
                accounts = (normalized, None)
        ports: tuple[int | None, ...] = (None,) if port is None else (port, None)
        is_dns_name = not _is_ip_literal(host)
        for acct in accounts:
            for probe_port in ports:
                match = self._exact.get((acct, host, probe_port))
                if match is not None:
                    return match
            if is_dns_name and self._wildcard:
                for suffix in _host_suffixes(host):
                    for probe_port in ports:
                        match = self._wildcard.get((acct, suffix, probe_port))
                        if match is not None:
                            return match
            if catch_all:
                for probe_port in ports:
                    match = self._any.get((acct, probe_port))
                    if match is not None:
                        return match
        return None

    def lookup_url(self, url: str, account: str | None = None,
                   wiki: tuple[str, int | None] | None = None) -> Match[T] | None:
        """The winning entry for a request to ``url`` as ``account``, or None."""
        host, port = split_url(url)
        return self.lookup(host, port, account, wiki)

    def explain(self, url: str, account: str | None = None,
                wiki: tuple[str, int | None] | None = None) -> Explanation[T]:
        """Every key relevant to ``url`` in precedence order, why each did or didn't match.

        ``wiki`` as for ``lookup``. Keys for unrelated hosts are left out. Not the
        hot path: it scans all keys.
        """
        host, port = split_url(url)
        on_wiki = _on_wiki(host, port, wiki)
        normalized_account = normalize_account(account) if account else None
        if not normalized_account:
            normalized_account = None
        ranked = []
        for match in self._matches:
            candidate = _judge(match.key, host, port, normalized_account, on_wiki)
            if candidate is not None:
                ranked.append((_rank(match.key), candidate, match))
        ranked.sort(key=lambda item: item[0])
        winner = next((match for _, candidate, match in ranked if candidate.matched), None)
        return Explanation(url, host, port, normalized_account,
                           [candidate for _, candidate, _ in ranked], winner)


def _on_wiki(host: str, port: int | None, wiki: tuple[str, int | None] | None) -> bool:
    """True when a request to ``host:port`` goes to the wiki it is for (see ``lookup``)."""
    return wiki is None or wiki == (host, port)


def _rank(key: HostKey) -> tuple[int, int, int, int, str]:
    """Precedence of a key among those that apply to one host: smaller wins."""
    return (0 if key.account is not None else 1,
            key.kind.value,
            -key.suffix_labels,
            0 if key.port is not None else 1,
            key.original)


def _judge(key: HostKey, host: str, port: int | None, account: str | None,
           on_wiki: bool) -> Candidate | None:
    """Whether ``key`` applies to the request; None when it is about another host."""
    if key.kind is KeyKind.EXACT:
        if key.host != host:
            return None
        host_reason = key.describe()
    elif key.kind is KeyKind.WILDCARD:
        if _is_ip_literal(host):
            return None
        if host == key.host:
            return Candidate(key, False, f"'*.{key.host}' matches subdomains only, not "
                                         f"{key.host} itself; add a key '{key.host}'")
        if not host.endswith('.' + key.host):
            return None
        host_reason = key.describe()
    else:
        host_reason = key.describe()
    if key.account is not None and key.account != account:
        requested = 'the request has no account' if account is None else f'not {account}'
        return Candidate(key, False, f'account {key.account} differs ({requested})')
    if key.port is not None and key.port != port:
        requested = 'the request uses the default port' if port is None else f'not {port}'
        return Candidate(key, False, f'port {key.port} differs ({requested})')
    if key.is_catch_all and not on_wiki:
        return Candidate(key, False, f'{key.original!r} applies only to the host and port of'
                                     ' the wiki a request is for, and this request is not'
                                     " for this host's wiki")
    return Candidate(key, True, host_reason)
