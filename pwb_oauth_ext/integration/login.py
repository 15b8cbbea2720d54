"""OAuth-only login and logout, and what to do when the wiki refuses a token."""
from __future__ import annotations

import enum
import weakref
from typing import TYPE_CHECKING, Any

from pwb_oauth_ext.config.grant_types import ClientCredentials
from pwb_oauth_ext.errors import OAuthExtError
from pwb_oauth_ext.integration.session import logged_out_lock, logged_out_sites
from pwb_oauth_ext.integration.sites import LOGGED_OUT, site_url
from pwb_oauth_ext.network.hosts import Match, split_url
from pwb_oauth_ext.network.text import printable
from pwb_oauth_ext.protocol.mediawiki import WRONG_WIKI, clock_skew, is_nonce_reused, likely_causes

if TYPE_CHECKING:
    from pwb_oauth_ext.config.credentials import AnyCredential
    from pwb_oauth_ext.integration.resolver import Resolver


class OAuthLoginMixin:
    """Pywikibot's ClientLoginManager, except that an OAuth entry is never a password login.

    Installed as ``pywikibot.login.ClientLoginManager`` (mixed before it, see
    ``login_manager_class``): ``APISite.login`` looks the class up there at call
    time, for ``site.login()``, ``pwb login`` and the login script alike. When an
    OAuth entry matches the site and account, ``login()`` proves the identity
    with one userinfo request and never reads a password file or asks for one;
    otherwise it is Pywikibot's own ClientLoginManager.
    """

    site: Any
    username: str | None
    #: The integration's resolver (set on the class by ``login_manager_class``).
    resolver: Resolver

    def __init__(self, password: str | None = None, site: Any = None,
                 user: str | None = None) -> None:
        import pywikibot
        site = site or pywikibot.Site()
        match = self.resolver.match(site_url(site), user or site.username())
        self.oauth_entry = match if match is not None and match.value.is_oauth else None
        if self.oauth_entry is None:
            super().__init__(password, site, user)  # type: ignore[call-arg]
            return
        self.site = site
        self.password = None
        self.login_name = self.username = user or site.username()

    def login(self, retry: bool = False, autocreate: bool = False) -> bool:
        """Log in with the OAuth entry, or as Pywikibot's ClientLoginManager does."""
        if self.oauth_entry is None:
            return super().login(retry=retry, autocreate=autocreate)  # type: ignore[misc]
        from pwb_oauth_ext.integration.errors import OAuthIdentityError
        self._oauth_login(self.oauth_entry, OAuthIdentityError)
        self.username = self.login_name = self.site.username()
        return True

    def _oauth_login(self, match: Match[AnyCredential], identity_error: type) -> None:
        """Prove the identity with one userinfo request; never send a password."""
        from pywikibot.login import LoginStatus
        site = self.site
        if getattr(site, LOGGED_OUT, False):
            setattr(site, LOGGED_OUT, False)
        if site.logged_in():
            site._loginstatus = LoginStatus.AS_USER
            return
        site._loginstatus = LoginStatus.IN_PROGRESS
        try:
            del site.userinfo
            info = site.userinfo
            if 'anon' in info or not info.get('id'):
                cred = match.value
                if isinstance(cred.grant_type, ClientCredentials):
                    raise identity_error(
                        f'OAuth login on {site} failed: the wiki gives the client credentials'
                        f' token of authenticate[{match.key.original!r}] (client'
                        f' {cred.public_id()}...) no user, so every request is anonymous. That'
                        ' is what MediaWiki does for a client that is not owner-only: use an'
                        ' owner-only client for client credentials, or the authorization-code'
                        ' grant (OAuth2(client_id=..., client_secret=...) and pwb-oauth'
                        ' authorize).')
                raise identity_error(
                    f'OAuth login on {site} failed: the wiki treated the request as'
                    f' anonymous although authenticate[{match.key.original!r}] applies.'
                    ' A proxy may strip the Authorization header.')
            name = info['name']
            configured = site.username()
            if configured is None:
                self.resolver.adopt(site, match, name, None)
                site._username = name
            elif configured == name:
                self.resolver.adopt(site, match, name, configured)
            else:
                raise identity_error(
                    f'OAuth login on {site}: the token of authenticate[{match.key.original!r}]'
                    f' ({match.reason}) belongs to {name!r}, but the configured user is'
                    f' {configured!r}. Set'
                    f" usernames[{site.family.name!r}][{site.code!r}] = {name!r}, or add an"
                    f" entry authenticate['{configured}@{match.key.host or '*'}'] with"
                    f" {configured}'s own token.", wiki_user=name, configured_user=configured)
        except BaseException:
            site._loginstatus = LoginStatus.NOT_LOGGED_IN
            raise
        site._loginstatus = LoginStatus.AS_USER


def login_manager_class(base: type, resolver: Resolver) -> type:
    """``OAuthClientLoginManager``: our mixin before Pywikibot's ClientLoginManager ``base``."""
    return type('OAuthClientLoginManager', (OAuthLoginMixin, base), {
        '__module__': __name__, '__doc__': OAuthLoginMixin.__doc__, 'resolver': resolver})


def oauth_logout(site: Any) -> None:
    """Forget the session locally: MediaWiki refuses action=logout under OAuth."""
    import pywikibot
    from pywikibot.comms import http
    from pywikibot.login import LoginStatus

    user = site.username()
    setattr(site, LOGGED_OUT, True)
    with logged_out_lock:
        if not any(ref() is site for ref in logged_out_sites):
            logged_out_sites.append(weakref.ref(site))
    site._loginstatus = LoginStatus.NOT_LOGGED_IN
    del site.userinfo
    site.tokens.clear()
    host = split_url(site_url(site))[0]
    for cookie in list(http.cookie_jar):
        if cookie.domain.lstrip('.') == host or cookie.domain.endswith('.' + host):
            http.cookie_jar.clear(cookie.domain, cookie.path, cookie.name)
    # One quiet line: `pwb login -logout` says "Logged out of ..." itself.
    pywikibot.log(f'Logged out of {site} in this process: OAuth credentials for {user} are'
                  ' no longer sent (revoke the grant on Special:OAuthManageMyGrants to end'
                  ' it for good; site.login() uses them again).')


class Retry(enum.Flag):
    """The one retry each kind of rejection gets per API request (kept on the request)."""

    NONE = 0
    NONCE = enum.auto()   # a reused nonce: sign again
    CLOCK = enum.auto()   # a clock skew: sign with the wiki's time
    RENEW = enum.auto()   # a refused token: renew it


_RETRIES = '_pwb_oauth_retries'


def handle_rejection(request: Any, error: dict, authorization_error: type,
                     resolver: Resolver) -> bool:
    """Retry once after a replayed nonce, a clock skew or a renewable token; else raise."""
    import pywikibot

    from pwb_oauth_ext.protocol.auth import OAuth1Auth

    info = str(error.get('info', ''))
    site = request.site
    tried: Retry = request.__dict__.get(_RETRIES, Retry.NONE)
    match = resolver.oauth_match(site)
    url = site_url(site)
    auth = resolver.auth_for(match, site.username(), url, site) if match else None

    if error.get('code') == WRONG_WIKI:
        raise authorization_error(_wrong_wiki_message(site, match, auth, info, resolver))
    if is_nonce_reused(info) and Retry.NONCE not in tried:
        request.__dict__[_RETRIES] = tried | Retry.NONCE
        pywikibot.log(f'OAuth nonce reused on {site}; retrying once with a new nonce')
        return True
    skew = clock_skew(info)
    if skew and isinstance(auth, OAuth1Auth) and Retry.CLOCK not in tried:
        request.__dict__[_RETRIES] = tried | Retry.CLOCK
        auth.correct_clock(*skew)
        pywikibot.warning(f'Clock differs from {site} by {skew[1] - skew[0]} s;'
                          ' signing with the wiki\'s time from now on. Fix the clock (NTP).')
        return True
    renew = getattr(auth, 'renew_after_rejection', None)
    if renew is not None and Retry.RENEW not in tried:
        request.__dict__[_RETRIES] = tried | Retry.RENEW
        if renew():
            return True
    raise authorization_error(_rejection_message(site, match, info))


def _wrong_wiki_message(site: Any, match: Match[AnyCredential] | None, auth: Any,
                        info: str, resolver: Resolver) -> str:
    """The consumer is registered for one wiki and this is another: say which and what to do."""
    text = _rejection_message(site, match, info)
    grant = getattr(auth, 'grant', None) or getattr(getattr(auth, 'source', None), 'grant', None)
    record_wiki = None
    if grant is not None and grant.client_id:
        try:
            found = resolver.store().find(grant)
        except OAuthExtError:
            found = None
        record_wiki = found[1].get('authorized_on') if found else None
    registered = (f'registered for {printable(record_wiki)} only' if record_wiki
                  else 'registered for a single wiki')
    host = split_url(site_url(site))[0]
    return (f'{text}\nThe consumer is {registered}, not for {site} ({host}). Register a'
            ' consumer for all wikis ("All projects on this site" on'
            ' Special:OAuthConsumerRegistration), or add an authenticate entry for'
            f" '{host}' with a consumer registered for this wiki.")


def _rejection_message(site: Any, match: Match[AnyCredential] | None, info: str) -> str:
    causes = likely_causes(info)
    where = ('no entry' if match is None
             else f'authenticate[{match.key.original!r}]: {match.reason}')
    public_id = match.value.public_id() if match is not None else ''
    who = f'; consumer key {public_id}...' if public_id else ''
    text = f'OAuth authentication on {site} was refused ({where}{who}): {printable(info)}'
    if causes:
        text += '\nLikely cause: ' + '; or '.join(causes) + '.'
    return text
