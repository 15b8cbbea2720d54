"""``pwb-oauth authorize``: get a user's OAuth token once and keep it in the token store.

OAuth 1.0a runs the Special:OAuth handshake (callback ``oob``: the user pastes
the verifier or the URL the wiki sent the browser to); OAuth 2.0 runs the
authorization code grant with PKCE, picking the redirect up on a loopback
redirect URI by itself, or from a pasted URL. Every request goes through
Pywikibot's HTTP session with none of our configured credentials attached.
"""
from __future__ import annotations

import webbrowser
from contextlib import suppress
from typing import Any, Optional, TextIO

from pwb_oauth_ext.config.credentials import OAuth1, OAuth2
from pwb_oauth_ext.config.grant_types import ClientCredentials, OAuth1Token, OwnerOnlyToken
from pwb_oauth_ext.config.references import resolve_secret
from pwb_oauth_ext.errors import GrantChoiceError, OAuthExtError, OAuthFlowError
from pwb_oauth_ext.integration import facade
from pwb_oauth_ext.network.hosts import normalize_account
from pwb_oauth_ext.network.text import printable
from pwb_oauth_ext.network.urls import server_of

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2   # the configuration is not ready: nothing was sent
EXIT_INTERRUPTED = 130


class _Abort(Exception):
    """A failure already explained to the user; ends the command with a status."""

    def __init__(self, message: str, status: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.status = status


#: Grant types whose token needs no authorization, with why (after "authenticate[key] ").
_NOTHING_TO_AUTHORIZE = {
    OAuth1Token: 'already has an access token (an owner-only consumer, or a token configured'
                 ' by hand): there is nothing to authorize. Remove the access token from the'
                 ' entry to authorize another account with this consumer.',
    OwnerOnlyToken: 'is an owner-only OAuth 2.0 token: it needs no authorization, Pywikibot'
                    ' uses it as it is.',
    ClientCredentials: 'uses the client_credentials grant: Pywikibot gets its tokens by'
                       ' itself, there is nothing to authorize.',
}


def check_configuration(family: str, code: str, user: Optional[str]) -> Optional[str]:
    """What is missing in user-config.py for authorizing FAMILY:CODE, or None; no network.

    Runs before the site is created, because creating a site goes online.
    """
    from pwb_oauth_ext.network.hosts import split_url
    try:
        api_url = facade.site_address(family, code).api_url
    except Exception as exc:
        return f'unknown site {family}:{code} ({type(exc).__name__}: {exc}).'
    account = user or facade.configured_account(family, code)
    try:
        match = facade.resolver.match(api_url, account)
    except OAuthExtError as exc:
        return f'{exc}'
    if match is not None and match.value.is_oauth:
        return None
    host, port = split_url(api_url)
    key = host if port is None else f'{host}:{port}'
    found = (f': the entry that applies, authenticate[{match.key.original!r}], is not OAuth'
             if match is not None else '')
    return (f'No OAuth entry in config.authenticate applies to {family}:{code} ({api_url},'
            f' account {account or "unset"}){found}. Add one to user-config.py, e.g.'
            f" authenticate[{key!r}] = _oauth.OAuth1(consumer_key, consumer_secret) or"
            " _oauth.OAuth2(client_id=...), then run this again.")


def run_authorize(site: Any, *, user: Optional[str], paste: bool, show: bool, out: TextIO,
                  inp: TextIO, open_browser: bool = True, timeout: float = 300.0,
                  force: bool = False) -> int:
    """Authorize the site's OAuth entry for ``user`` (default: the site's user).

    The grant is made on the entry's central wiki and stored under the account
    that approved it, so every wiki of the farm uses it. A grant already
    stored is kept unless ``force``.

    Returns the exit status; problems are reported on ``out`` as one clear
    message, never as a traceback, and never with a secret unless ``show``.
    """
    facade.install()   # get_authentication must not hand our objects to requests
    try:
        account = user or site.username()
        match = _oauth_entry(site, account)
        cred = match.value
        key = match.key.original
        refusal = _NOTHING_TO_AUTHORIZE.get(type(cred.grant_type))
        if refusal is not None:
            raise _Abort(f'authenticate[{key!r}] {refusal}')
        if isinstance(cred, OAuth1):
            grant = _grant(site, match, account, force)
            return _authorize_oauth1(site, cred, key, account, grant, show=show, out=out,
                                     inp=inp, open_browser=open_browser)
        if isinstance(cred, OAuth2):
            grant = _grant(site, match, account, force)
            return _authorize_oauth2(site, cred, key, account, grant, paste=paste, show=show,
                                     out=out, inp=inp, open_browser=open_browser,
                                     timeout=timeout)
        raise _Abort(f'authenticate[{key!r}] is not an OAuth entry.')
    except _Abort as exc:
        _say(out, f'Error: {printable(exc)}')
        return exc.status
    except OAuthExtError as exc:   # may quote the wiki or the redirect
        _say(out, f'Error: {printable(exc)}')
        return EXIT_FAILED
    except KeyboardInterrupt:
        _say(out, 'Cancelled; nothing was stored.')
        return EXIT_INTERRUPTED


# --- helpers -----------------------------------------------------------------

def _oauth_entry(site: Any, account: Optional[str]) -> Any:
    """The OAuth entry that applies to the site and account; _Abort when there is none."""
    match = facade.resolver.match(facade.site_url(site), account)
    if match is None or not match.value.is_oauth:
        raise _Abort(
            f'No OAuth entry in config.authenticate applies to {site} '
            f'({facade.site_url(site)}, account {account or "unset"}). Add one'
            ' to user-config.py, e.g. authenticate[\'<host>\'] = OAuth1(consumer_key,'
            ' consumer_secret) or OAuth2(client_id=...), then run this again.')
    return match


def _say(out: TextIO, text: str) -> None:
    out.write(text + '\n')
    out.flush()


def _open(url: str, open_browser: bool, out: TextIO) -> None:
    _say(out, f'Open this URL in a browser where you are logged in to the wiki:\n{url}')
    if open_browser:
        with suppress(Exception):   # no browser here: the printed URL is enough
            webbrowser.open(url)


def _read_line(inp: TextIO, out: TextIO, prompt: str) -> str:
    _say(out, prompt)
    line = inp.readline()
    if not line:
        raise _Abort('No answer was entered (end of input); nothing was stored.')
    return line.strip()


def _grant(site: Any, match: Any, account: Optional[str], force: bool) -> Any:
    """The (central wiki, grant key) to authorize; refuses to replace a stored grant."""
    grant = facade.resolver.grant_of(match, account, facade.site_url(site), site)
    assert grant is not None
    central, key = grant
    if force:
        return grant
    accounts = _stored_accounts(site, account, key.central_wiki)
    if accounts:
        other = '' if account else ' To add another account, run with -user:NAME.'
        raise _Abort(
            f'A grant of {", ".join(accounts)} for client {key.client_id[:6]}... on'
            f' {central.host} is already stored, and {site} uses it (like every wiki whose'
            f' entry has this consumer and central wiki). To replace it, run again with'
            f' --force.{other}')
    return grant


def _stored_accounts(site: Any, account: Optional[str], central_wiki: str) -> list[str]:
    """Who has the stored grant the site uses on its central wiki (the runtime's lookup).

    With an account, only its own grant counts (an unnamed one is adopted by
    the first account that logs in); without, every account's.
    """
    try:
        grant = facade.stored_grant(site, account)
    except GrantChoiceError as exc:   # several accounts and none chosen
        return [name or '(not yet known)' for name in exc.accounts]
    if grant is None or grant.found is None or grant.key.central_wiki != central_wiki:
        return []
    owner = grant.found[0].account
    if account is not None and owner != account:
        return []
    return [owner or '(not yet known)']


def _check_account(account: Optional[str], identity: str, site: Any) -> None:
    if account and normalize_account(account) != normalize_account(identity):
        raise _Abort(
            f'The grant was approved by {identity!r}, not by {account!r}: log in to {site}'
            f' as {account} in the browser (or run with -user:{identity}) and authorize'
            ' again. Nothing was stored.')


def _store(site: Any, grant: Any, account: str, record: dict) -> str:
    """Store the grant under the account the wiki named; note where it was authorized."""
    from pwb_oauth_ext.network.hosts import wiki_host
    from pwb_oauth_ext.protocol.store import describe_store

    store = facade.resolver.store()
    record = {**record, 'authorized_on': wiki_host(facade.site_url(site))}
    store.put(grant[1]._replace(account=account), record)
    facade.resolver.forget()
    return describe_store(store)


# --- OAuth 1.0a ------------------------------------------------------------------

def _authorize_oauth1(site: Any, cred: OAuth1, key: str, account: Optional[str], grant: Any,
                      *, show: bool, out: TextIO, inp: TextIO, open_browser: bool) -> int:
    from pwb_oauth_ext.protocol import oauth1 as handshake

    post = facade.post_without_auth
    consumer_key = resolve_secret(cred.consumer_key, key)
    consumer_secret = resolve_secret(cred.consumer_secret, key)
    # The handshake, identify included, runs on the central wiki (its JWT's iss).
    index_url = grant[0].script_url + '/index.php'

    request_token = handshake.initiate(post, index_url, consumer_key, consumer_secret)
    _open(handshake.authorize_url(index_url, request_token.key, consumer_key), open_browser, out)
    answer = _read_line(inp, out, 'After "Allow", paste the verification code or the whole URL'
                                  ' the wiki sent you to, then press Enter:')
    verifier = handshake.parse_verifier(answer, request_token.key)
    access = handshake.fetch_access_token(post, index_url, consumer_key, consumer_secret,
                                          request_token, verifier)
    claims = handshake.identify(post, index_url, consumer_key, consumer_secret, access,
                                server=server_of(index_url))
    identity = str(claims['username'])
    _check_account(account, identity, site)
    path = _store(site, grant, identity, {
        'protocol': 'oauth1', 'access_token': access.key, 'access_secret': access.secret,
        'identity': identity})
    _say(out, f'Authorized as {printable(identity)}; token stored in {path}')
    if show:
        _say(out, f'Access token: {access.key}\nAccess secret: {access.secret}')
    return EXIT_OK


# --- OAuth 2.0 ------------------------------------------------------------------

def _authorize_oauth2(site: Any, cred: OAuth2, key: str, account: Optional[str], grant: Any,
                      *, paste: bool, show: bool, out: TextIO, inp: TextIO,
                      open_browser: bool, timeout: float) -> int:
    """The authorization code grant with PKCE: consent, code exchange, identity, store."""
    from pwb_oauth_ext.protocol import oauth2
    from pwb_oauth_ext.protocol.grants import endpoints_of

    assert cred.client_id is not None
    secret = (resolve_secret(cred.client_secret, key) if cred.client_secret is not None
              else None)
    endpoints = endpoints_of(cred, grant[0].script_url)
    verifier, challenge = oauth2.make_pkce_pair()
    state = oauth2.new_state()
    url = oauth2.authorization_url(endpoints, cred.client_id, redirect_uri=cred.redirect_uri,
                                   state=state, code_challenge=challenge)
    redirected = _consent(url, cred.redirect_uri, state=state, paste=paste, out=out, inp=inp,
                          open_browser=open_browser, timeout=timeout)
    code = oauth2.parse_redirect(redirected, state)
    tokens = oauth2.exchange_code(facade.pywikibot_transport, endpoints, cred.client_id,
                                  secret, code=code, code_verifier=verifier,
                                  redirect_uri=cred.redirect_uri)
    identity = _new_token_owner(endpoints.profile_url, tokens.access_token, account, out)
    if identity is not None:
        _check_account(account, identity, site)
    stored_as = identity if identity is not None else account
    assert stored_as is not None
    path = _store(site, grant, stored_as, tokens.to_record())
    who = printable(identity if identity is not None else f'{stored_as} (not confirmed)')
    _say(out, f'Authorized as {who}; token stored in {path}')
    if show:
        _say(out, f'Access token: {tokens.access_token}')
        if tokens.refresh_token:
            _say(out, f'Refresh token: {tokens.refresh_token}')
    return EXIT_OK


def _consent(url: str, redirect_uri: Optional[str], *, state: str, paste: bool, out: TextIO,
             inp: TextIO, open_browser: bool, timeout: float) -> str:
    """Send the user to the consent URL; the URL the wiki redirected the browser to.

    Received on a loopback redirect URI by itself, else pasted by the user.
    """
    from pwb_oauth_ext.network.loopback import LoopbackReceiver, is_loopback_redirect
    from pwb_oauth_ext.protocol.oauth2 import redirect_belongs

    listen = redirect_uri is not None and is_loopback_redirect(redirect_uri) and not paste
    receiver = (LoopbackReceiver(redirect_uri, lambda params: redirect_belongs(params, state))
                if listen and redirect_uri else None)
    try:
        _open(url, open_browser, out)
        if receiver is not None:
            _say(out, f'Waiting for the wiki to send the browser to {redirect_uri} ...')
            return receiver.wait(timeout)
        redirected = _read_line(inp, out, 'After "Allow", paste the whole URL the wiki'
                                          ' sent you to, then press Enter:')
    finally:
        if receiver is not None:
            receiver.close()
    if not _looks_like_redirect(redirected):
        raise _Abort('That is not the address the wiki sent you to: after "Allow", copy the'
                     " whole URL from the browser's address bar (it contains code= and"
                     ' state=) and paste it. Nothing was stored.')
    return redirected


def _new_token_owner(profile_url: str, access_token: str, account: Optional[str],
                     out: TextIO) -> Optional[str]:
    """Who the new token belongs to; None (with a warning) when that cannot be checked
    and the account was named (it is stored under that name, unconfirmed).

    A profile URL the token may not go to (plain http off loopback) is an error, not
    a reason to store the token unchecked."""
    from pwb_oauth_ext.network.urls import require_safe_url

    require_safe_url(profile_url, 'the new access token')
    try:
        return _profile_username(profile_url, access_token)
    except OAuthFlowError as exc:
        if not account:
            raise
        _say(out, f'Warning: the new token could not be checked ({printable(exc)}).')
        return None


def _looks_like_redirect(text: str) -> bool:
    """True for a URL carrying an OAuth 2.0 answer (code/state or error) in its query."""
    from urllib.parse import parse_qsl, urlsplit
    params = dict(parse_qsl(urlsplit(text.strip()).query))
    return bool({'code', 'state', 'error'} & set(params))


def _profile_username(profile_url: str, access_token: str) -> str:
    """Who the new bearer token belongs to, from ``rest.php/oauth2/resource/profile``
    (a URL ``_new_token_owner`` checked: https, or plain http to loopback)."""
    import json

    response = facade.fetch_without_auth(profile_url, method='GET', headers={
        'Authorization': f'Bearer {access_token}', 'Accept': 'application/json'})
    try:
        body = json.loads(response.text or '')
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise OAuthFlowError(f'The profile endpoint answered HTTP {response.status_code}'
                             ' without JSON.')
    if int(response.status_code) != 200 or not body.get('username'):
        detail = body.get('message') or body.get('error') or f'HTTP {response.status_code}'
        raise OAuthFlowError(f'The profile endpoint refused the new token: {printable(detail)}')
    return str(body['username'])
