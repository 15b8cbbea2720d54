"""Credential objects written in user-config.py, and the reading of config values.

They hold configuration only (which may include secret references); the
requests auth objects that sign or carry tokens are made from them at first
use by the adapter. ``repr()`` never shows a secret.
"""
from __future__ import annotations

from pwb_oauth_ext.config.grant_types import (
    OAUTH2_GRANT_TYPES,
    GrantType,
    HttpBasic,
    OAuth1StoredToken,
    OAuth1Token,
    OAuth2GrantType,
)
from pwb_oauth_ext.config.references import SecretRef, has_control_character
from pwb_oauth_ext.errors import ConfigError, NotEnabledError, shown_id

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: keep the import cheap
    from typing import Union

    from pwb_oauth_ext.config.references import Secret

    AnyCredential = Union['OAuth1', 'OAuth2', 'BasicAuth']


def parse_central_wiki(value: object, where: str) -> tuple[str | None, str | None]:
    """``central_wiki=`` as (``host[:port]``, script URL or None); (None, None) when not given.

    ``'meta.wikimedia.org'`` or ``'127.0.0.1:8080'`` name the wiki; a URL
    (``'https://wiki.example.org/w'``) also gives its scheme and script path,
    which otherwise are those of the wiki the entry matched.
    """
    from urllib.parse import urlsplit

    from pwb_oauth_ext.network.hosts import wiki_host
    if value is None:
        return None, None
    if not isinstance(value, str) or not value.strip() or value != value.strip():
        raise ConfigError(f"{where}: central_wiki must be 'host[:port]' (e.g."
                          " 'meta.wikimedia.org') or the wiki's script URL")
    is_url = '://' in value
    parts = urlsplit(value if is_url else f'//{value}')
    if is_url and parts.scheme not in ('http', 'https'):
        raise ConfigError(f'{where}: central_wiki {value!r} must be an http(s) URL')
    if not is_url and (parts.path or parts.query or parts.fragment or '@' in value):
        raise ConfigError(f"{where}: central_wiki {value!r} must be 'host[:port]';"
                          " write a URL (https://host/w) to give a script path")
    try:
        hostport = wiki_host(f'http://{parts.netloc}' if parts.netloc else value)
    except ValueError as exc:
        raise ConfigError(f'{where}: central_wiki {value!r} is not a host: {exc}') from None
    script_url = value.rstrip('/') if is_url else None
    return hostport, script_url


def _check_secret(value: object, field: str, where: str, *, optional: bool = False) -> None:
    """Refuse values that cannot be a secret, without echoing them."""
    if value is None and optional:
        return
    if isinstance(value, SecretRef):
        return
    if not isinstance(value, str):
        raise ConfigError(f'{where}: {field} must be a string or a secret reference'
                          f' (env(...), file(...), keyring(...)), not {type(value).__name__}')
    if not value.strip():
        raise ConfigError(f'{where}: {field} is empty')
    if value != value.strip():
        raise ConfigError(f'{where}: {field} has leading or trailing white space;'
                          ' remove it (a copy-and-paste slip?)')
    if has_control_character(value):
        raise ConfigError(f'{where}: {field} contains a control character (a line break?);'
                          ' a secret is one line of text')


def _check_redirect_uri(uri: object, where: str) -> None:
    """A redirect URI is sent as written and compared exactly by MediaWiki."""
    if not isinstance(uri, str) or not uri or has_control_character(uri):
        raise ConfigError(f'{where}: redirect_uri must be a URL on one line')
    from urllib.parse import urlsplit

    try:
        port = urlsplit(uri).port
    except ValueError:
        raise ConfigError(f'{where}: redirect_uri {uri!r} has an invalid port') from None
    if port == 0:
        raise ConfigError(f'{where}: redirect_uri {uri!r} has port 0; MediaWiki compares'
                          ' redirect URIs exactly, so give the fixed port registered with'
                          ' the client (e.g. http://127.0.0.1:8765/callback)')


def _mask(value: Secret | None) -> str:
    if value is None:
        return 'None'
    if isinstance(value, SecretRef):
        return value.describe()
    return '<hidden>'


class Credential:
    """Base class of a config entry; its ``grant_type`` says how it gets a token."""

    #: How the entry gets its token (what ``check``, the resolver and the commands ask).
    grant_type: GrantType
    #: Pywikibot treats a credential as OAuth when its value has length 4.
    is_oauth = True

    def public_id(self) -> str:
        """A non-secret identifier: the consumer key or client id as ``errors.shown_id``."""
        return ''

    def __bool__(self) -> bool:
        return True   # not __len__: that one means "Pywikibot reads me without the plugin"

    def __len__(self) -> int:
        """4 (2 for HTTP basic), as Pywikibot reads entries, while the plugin runs; else an error.

        Pywikibot's own ``get_authentication`` asks ``len()`` of every value it
        finds; with ``enable()`` it never sees these objects, so reaching here
        without the plugin installed means user-config.py lacks the call.
        """
        import sys
        adapter = sys.modules.get('pwb_oauth_ext.integration.install')
        if adapter is not None and adapter.installed():
            return 4 if self.is_oauth else 2
        refused = None if adapter is None else adapter.refusal()
        if refused:   # enable() found a Pywikibot internal it does not know
            raise NotEnabledError(refused)
        raise NotEnabledError(
            f'config.authenticate holds {type(self).__name__}(...), but pwb_oauth_ext is not'
            ' enabled: add "_oauth.enable()" after "import pwb_oauth_ext as _oauth"'
            ' in user-config.py')


class OAuth1(Credential):
    """OAuth 1.0a: consumer key and secret, and an access token and secret.

    Without the access token pair, the one obtained by ``pwb-oauth authorize``
    is taken from the token store.
    """

    def __init__(self, consumer_key: Secret, consumer_secret: Secret,
                 access_token: Secret | None = None, access_secret: Secret | None = None,
                 *, central_wiki: str | None = None, _where: str = 'OAuth1(...)',
                 _names: dict[str, str] | None = None) -> None:
        names = _names or {}   # how the messages name each argument (a 4-tuple: its items)
        _check_secret(consumer_key, names.get('consumer_key', 'consumer_key'), _where)
        _check_secret(consumer_secret, names.get('consumer_secret', 'consumer_secret'), _where)
        _check_secret(access_token, names.get('access_token', 'access_token'), _where,
                      optional=True)
        _check_secret(access_secret, names.get('access_secret', 'access_secret'), _where,
                      optional=True)
        if (access_token is None) != (access_secret is None):
            raise ConfigError(f'{_where}: give both access_token and access_secret, or'
                              ' neither (then the token stored by pwb-oauth authorize is used)')
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.access_token = access_token
        self.access_secret = access_secret
        self.grant_type = OAuth1Token() if access_token is not None else OAuth1StoredToken()
        #: The wiki that issues the grant (handshake, identify): host[:port] and URL.
        self.central_wiki, self.central_url = parse_central_wiki(central_wiki, _where)

    @property
    def has_access_token(self) -> bool:
        """True when the access token is configured rather than stored."""
        return self.access_token is not None

    def public_id(self) -> str:
        key = self.consumer_key
        return key.describe() if isinstance(key, SecretRef) else shown_id(key)

    def __repr__(self) -> str:
        return (f'OAuth1(consumer_key={self.public_id()!r}, consumer_secret='
                f'{_mask(self.consumer_secret)}, access_token={_mask(self.access_token)},'
                f' access_secret={_mask(self.access_secret)})')


class OAuth2(Credential):
    """OAuth 2.0: an owner-only bearer token, client credentials, or authorization code.

    * ``OAuth2(access_token=...)``: an owner-only client's non-expiring token.
    * ``OAuth2(client_id=..., client_secret=..., grant='client_credentials')``.
    * ``OAuth2(client_id=...[, client_secret=...])``: authorization code with
      PKCE, tokens obtained by ``pwb-oauth authorize`` and refreshed by themselves.

    Endpoints default to ``{scriptpath}/rest.php/oauth2/...`` of the central
    wiki (``central_wiki=``; meta.wikimedia.org for Wikimedia sites, else the
    wiki the entry matched).
    """

    def __init__(self, access_token: Secret | None = None, *, client_id: str | None = None,
                 client_secret: Secret | None = None, grant: str | None = None,
                 redirect_uri: str | None = None, authorize_url: str | None = None,
                 token_url: str | None = None, profile_url: str | None = None,
                 central_wiki: str | None = None, _where: str = 'OAuth2(...)') -> None:
        _check_secret(access_token, 'access_token', _where, optional=True)
        _check_secret(client_secret, 'client_secret', _where, optional=True)
        if client_id is not None and (not isinstance(client_id, str) or not client_id.strip()):
            raise ConfigError(f'{_where}: client_id must be a non-empty string')
        if client_id is not None and has_control_character(client_id):
            raise ConfigError(f'{_where}: client_id contains a control character')
        if redirect_uri is not None:
            _check_redirect_uri(redirect_uri, _where)
        if access_token is not None and client_id is not None:
            raise ConfigError(f'{_where}: give access_token=... (an owner-only client\'s token)'
                              ' or client_id=... (client credentials or authorization code),'
                              ' not both')
        self.grant_type = _oauth2_grant_type(grant, access_token, client_id, _where)
        given = {'access_token': access_token, 'client_id': client_id,
                 'client_secret': client_secret}
        if any(given[field] is None for field in self.grant_type.required_fields):
            raise ConfigError(f'{_where}: {self.grant_type.missing_message}')
        self.access_token = access_token
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.authorize_url = authorize_url
        self.token_url = token_url
        self.profile_url = profile_url
        #: The wiki that issues and renews the grant: host[:port] and URL.
        self.central_wiki, self.central_url = parse_central_wiki(central_wiki, _where)

    @property
    def grant(self) -> str:
        """The grant's name as ``grant=`` takes it ('owner_only', ...)."""
        return self.grant_type.name

    def public_id(self) -> str:
        return shown_id(self.client_id) if self.client_id else ''

    def __repr__(self) -> str:
        parts = [f'grant={self.grant!r}']
        if self.client_id:
            parts.append(f'client_id={self.public_id()!r}')
        if self.client_secret is not None:
            parts.append(f'client_secret={_mask(self.client_secret)}')
        if self.access_token is not None:
            parts.append(f'access_token={_mask(self.access_token)}')
        return f'OAuth2({", ".join(parts)})'


def _oauth2_grant_type(grant: object, access_token: object, client_id: object,
                       where: str) -> OAuth2GrantType:
    """``grant=`` as its class; without it, what the given fields imply."""
    if grant is None:
        if access_token is not None:
            grant = 'owner_only'
        elif client_id is not None:
            grant = 'authorization_code'
        else:
            raise ConfigError(f'{where}: give access_token=... (owner-only client)'
                              ' or client_id=... (client credentials or authorization code)')
    if not isinstance(grant, str) or grant not in OAUTH2_GRANT_TYPES:
        raise ConfigError(f'{where}: grant must be one of {", ".join(OAUTH2_GRANT_TYPES)},'
                          f' not {grant!r}')
    return OAUTH2_GRANT_TYPES[grant]


class BasicAuth(Credential):
    """HTTP basic authentication (Pywikibot's 2-tuple), passed on unchanged."""

    is_oauth = False
    grant_type = HttpBasic()

    def __init__(self, username: str, password: Secret) -> None:
        self.username = username
        self.password = password

    def __repr__(self) -> str:
        return f'BasicAuth(username={self.username!r}, password={_mask(self.password)})'


#: How the errors about an OAuth 1.0a 4-tuple name its items.
_TUPLE_ITEM_NAMES = {
    'consumer_key': 'item 1 (consumer key)', 'consumer_secret': 'item 2 (consumer secret)',
    'access_token': 'item 3 (access token)', 'access_secret': 'item 4 (access secret)',
}


def credential_from_config(key: object, value: object) -> AnyCredential:
    """Read one ``authenticate[key]`` value; ConfigError naming the key (never a secret)."""
    where = f'authenticate[{key!r}]'
    if isinstance(value, (OAuth1, OAuth2, BasicAuth)):
        return value
    if isinstance(value, (tuple, list)):
        if len(value) == 4:
            if any(item is None for item in value):
                raise ConfigError(
                    f'{where}: an OAuth 1.0a 4-tuple needs all four values; for a token'
                    ' from pwb-oauth authorize write OAuth1(consumer_key, consumer_secret)')
            return OAuth1(*value, _where=f'{where} (OAuth 1.0a 4-tuple)',
                          _names=_TUPLE_ITEM_NAMES)
        if len(value) == 2:
            user, password = value
            if not isinstance(user, str) or not user:
                raise ConfigError(f'{where}: the HTTP basic user name (item 1) must be'
                                  ' a non-empty string')
            _check_secret(password, 'the HTTP basic password (item 2)', where)
            return BasicAuth(user, password)
        raise ConfigError(
            f'{where} has {len(value)} items: use 4 for OAuth 1.0a (consumer key,'
            ' consumer secret, access token, access secret), 2 for HTTP basic,'
            ' or OAuth1(...)/OAuth2(...) from pwb_oauth_ext')
    raise ConfigError(
        f'{where} is a {type(value).__name__}: use a 4-tuple (OAuth 1.0a), a 2-tuple'
        ' (HTTP basic), or OAuth1(...)/OAuth2(...) from pwb_oauth_ext')
