"""``pwb-oauth check``: what the configuration does, verified (``explain`` is commands/explain.py).

``check`` logs in to each site once (one userinfo request) and reports
what a bot operator needs to know before a run: which key and protocol, who the
wiki says the bot is, whether it may edit, when its token expires, and what in
the setup is risky. No secret is ever printed: only key names, consumer key
prefixes and client id prefixes.
"""
from __future__ import annotations

import contextlib
import json
import os
import stat
import time
from typing import Any, TextIO

from pwb_oauth_ext.config.credentials import OAuth1, OAuth2
from pwb_oauth_ext.config.grant_types import AuthorizationCode
from pwb_oauth_ext.config.references import resolve_secret
from pwb_oauth_ext.integration import facade
from pwb_oauth_ext.network.text import printable
from pwb_oauth_ext.network.urls import server_of
from pwb_oauth_ext.protocol.mediawiki import (
    PROFILE_PATH,
    REMOVED_RIGHTS,
    REQUIRED_RIGHTS,
    USUAL_RIGHTS,
)

PUBLIC_CLIENT_WARNING = (
    'a public client (no client_secret) cannot refresh its token on MediaWiki before 1.46'
    ' (1.39 to 1.45 answer invalid_client): when the token expires, run pwb-oauth authorize'
    ' again; unattended bots need a confidential client')


def load_pywikibot() -> None:
    """Import Pywikibot (reads user-config.py from PYWIKIBOT_DIR)."""
    facade.load_pywikibot()


def _grant_type_of(match: Any) -> Any:
    """The grant type (``config.grant_types``) of a match of raw config."""
    from pwb_oauth_ext.config.credentials import credential_from_config
    return credential_from_config(match.key.original, match.value).grant_type


# --- check -------------------------------------------------------------------

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_UNREACHABLE = 3


def run_check(sites: list[tuple[str, str]], *, all_sites: bool, as_json: bool,
              out: TextIO) -> int:
    """Check each site; print text or JSON.

    0 when every site passes, 3 when a wiki could not be reached, else 1.
    """
    load_pywikibot()
    facade.report_without_retries()
    reports = [check_site(family, code) for family, code in _targets(sites, all_sites)]
    grants = _shared_grants(reports)
    ok = all(report['ok'] for report in reports)
    store = _store_in_use()
    if as_json:
        json.dump({'ok': ok, 'sites': reports, 'grants': grants, 'token_store': store},
                  out, indent=2)
        out.write('\n')
    else:
        for report in reports:
            out.write(format_report(report) + '\n')
        if all_sites and grants:
            out.write(format_grants(grants) + '\n')
        print(f'token store: {store}', file=out)
        print(f'{"All checks passed." if ok else "Some checks FAILED."}', file=out)
    out.flush()
    if ok:
        return EXIT_OK
    return EXIT_UNREACHABLE if any(r['unreachable'] for r in reports) else EXIT_FAILED


def _targets(sites: list[tuple[str, str]], all_sites: bool) -> list[tuple[str, str]]:
    """The sites asked for; the default site when none (or --all), and with --all every
    site of config.usernames; each once, in that order."""
    targets = list(sites)
    extra = [facade.default_site()] if not targets or all_sites else []
    if all_sites:
        extra += facade.configured_sites()
    for site in extra:
        if site not in targets:
            targets.append(site)
    return targets


class _SiteCheckEnded(Exception):
    """A step found what ends a site's check; its error is in the report already."""


def check_site(family_name: str, code: str) -> dict[str, Any]:
    """One site's report as a JSON-ready dict (``ok``, ``errors``, ``warnings``, ...)."""
    report = _new_report(family_name, code)
    _setup_warnings(report['warnings'])
    try:
        address = _locate(report, family_name, code)
        match = _choose_key(report, address.api_url)
        credential = _read_credential(report, match)
        site = _reach(report, address, family_name, code)
    except _SiteCheckEnded:
        return report
    _read_account(report, site)
    if isinstance(credential, OAuth2):
        report['grants'] = _oauth2_grants(site)
        _token_expiry(report, credential)
    elif isinstance(credential, OAuth1):
        report['grants'] = _oauth1_grants(site, credential, match.key.original)
    report['ok'] = not report['errors']
    return report


def _new_report(family_name: str, code: str) -> dict[str, Any]:
    return {
        'site': f'{family_name}:{code}', 'api_url': None, 'configured_user': None,
        'key': None, 'key_reason': None, 'explanation': None,
        'protocol': 'none', 'protocol_name': 'none', 'public_id': None,
        'identity': None, 'groups': [], 'grants': None,
        'rights': {'present': [], 'missing': []},
        'token_expires_at': None, 'token_expiry': None, 'grant': None, 'shared_with': [],
        'warnings': [], 'errors': [], 'unreachable': False, 'ok': False,
    }


def _end(report: dict[str, Any], error: str, *, unreachable: bool = False) -> _SiteCheckEnded:
    """Record the error that ends the site's check; the exception to raise for it."""
    report['errors'].append(error)
    report['unreachable'] = unreachable
    return _SiteCheckEnded(error)


def _setup_warnings(warnings: list[str]) -> None:
    """What is risky before any site is looked at: readable files, the plugin not enabled."""
    _file_warnings(warnings)
    if not facade.installed():
        warnings.append('pwb_oauth_ext is not enabled in user-config.py'
                        ' (add: import pwb_oauth_ext as _oauth; _oauth.enable())')


def _locate(report: dict[str, Any], family_name: str, code: str) -> facade.SiteAddress:
    """The site's API URL from its family file, and the account configured for it."""
    try:
        address = facade.site_address(family_name, code)
    except Exception as exc:
        raise _end(report, f'unknown site {family_name}:{code}: {type(exc).__name__}: {exc}'
                   ) from None
    report['api_url'] = address.api_url
    report['configured_user'] = facade.configured_account(family_name, code)
    return address


def _choose_key(report: dict[str, Any], api_url: str) -> Any:
    """The config.authenticate entry the runtime uses for the API URL (its host table)."""
    try:
        explanation = facade.resolver.table().explain(api_url, report['configured_user'])
    except Exception as exc:
        raise _end(report, f'config.authenticate cannot be read: {exc}') from None
    report['explanation'] = explanation.format()
    match = explanation.winner
    if match is None:
        raise _end(report, f'no config.authenticate key matches {api_url}')
    report['key'] = match.key.original
    report['key_reason'] = match.reason
    if match.key.is_catch_all:
        report['warnings'].append(
            f'the catch-all key {match.key.original!r} is in use: add a key for'
            ' this host so these credentials cannot go to another one')
    elif any(candidate.key.is_catch_all for candidate in explanation.candidates):
        report['warnings'].append(
            "config.authenticate has a catch-all key '*': every host without"
            ' a key of its own gets those credentials')
    return match


def _read_credential(report: dict[str, Any], match: Any) -> Any:
    """The entry's protocol and public id; an OAuth object without the plugin ends the check."""
    grant_type = _grant_type_of(match)
    credential = match.value
    report['protocol'] = grant_type.name
    report['protocol_name'] = grant_type.title
    report['public_id'] = credential.public_id() or None
    written = facade.resolver.configured_value(match)   # a 4-tuple works without the plugin
    if not facade.installed() and isinstance(written, (OAuth1, OAuth2)):
        raise _end(report, f'authenticate[{match.key.original!r}] is {type(written).__name__}'
                           '(...), which only works with the plugin enabled: add'
                           ' "_oauth.enable()" after "import pwb_oauth_ext as _oauth" in'
                           ' user-config.py')
    if isinstance(grant_type, AuthorizationCode) and credential.client_secret is None:
        report['warnings'].append(PUBLIC_CLIENT_WARNING)
    return credential


def _reach(report: dict[str, Any], address: facade.SiteAddress, family_name: str,
           code: str) -> Any:
    """Connect to the wiki's host, then log in; the logged-in site."""
    problem = unreachable(address.api_url, facade.socket_timeout(),
                          verify=address.verify_ssl)
    if problem:
        raise _end(report, problem, unreachable=True)
    return _login(report, family_name, code)


def _read_account(report: dict[str, Any], site: Any) -> None:
    """Who the wiki says the bot is, its groups and rights, and the grant it uses."""
    configured = report['configured_user']
    errors: list[str] = report['errors']
    report['grant'] = _grant_of(site, report['warnings'])
    info = site.userinfo
    report['identity'] = info.get('name')
    report['groups'] = [group for group in info.get('groups', []) if group != '*']
    rights = set(info.get('rights', []))
    expected = _rights_to_expect(site, rights)
    report['rights'] = {'present': [r for r in expected if r in rights],
                        'missing': [r for r in expected if r not in rights]}
    for right in REQUIRED_RIGHTS:
        if right not in rights:
            errors.append(f'{report["identity"]} lacks the {right!r} right'
                          ' (check the grants of the consumer and the groups of the user)')
    if configured and report['identity'] and configured != report['identity']:
        errors.append(f'the token belongs to {report["identity"]!r} but the configured'
                      f' user is {configured!r}')


def _version(site: Any) -> tuple[int, ...] | None:
    """The wiki's MediaWiki version as (major, minor), None when it cannot be read."""
    try:
        return tuple(site.mw_version.version[:2])
    except Exception:
        return None


def _rights_to_expect(site: Any, rights: set[str]) -> list[str]:
    """The usual bot rights that exist on this wiki (siteinfo; its version as a fallback).

    Asked only when one is missing, so a healthy check sends no extra request.
    """
    if all(right in rights for right in USUAL_RIGHTS):
        return list(USUAL_RIGHTS)
    try:
        groups = site.siteinfo.get('usergroups') or []
        existing = {right for group in groups for right in group.get('rights', [])}
    except Exception:
        existing = set()
    if existing:
        return [r for r in USUAL_RIGHTS if r in existing or r in rights]
    version = _version(site)
    return [r for r in USUAL_RIGHTS
            if r in rights or version is None or version < REMOVED_RIGHTS.get(r, (999,))]


def _grant_of(site: Any, warnings: list[str]) -> dict[str, Any] | None:
    """The stored grant the site uses (central wiki, client, account, expiry), or None."""
    try:
        grant = facade.stored_grant(site, site.username())
    except Exception as exc:
        warnings.append(f'token store unreadable: {exc}')
        return None
    if grant is None:
        return None
    key, record = grant.found if grant.found else (grant.key, {})
    expires_at = record.get('expires_at')
    return {'central_wiki': key.central_wiki, 'client_id': key.client_id[:6] + '...',
            'account': key.account, 'stored': grant.found is not None,
            'expires_at': float(expires_at) if expires_at is not None else None,
            'key': [key.central_wiki, key.client_id, key.account]}


def _shared_grants(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each grant once, with the sites using it; each report learns who shares its grant."""
    by_key: dict[tuple, dict[str, Any]] = {}
    for report in reports:
        grant = report.get('grant')
        if grant:
            entry = by_key.setdefault(tuple(grant['key']), {**grant, 'sites': []})
            entry['sites'].append(report['site'])
    for report in reports:
        grant = report.get('grant')
        if grant:
            report['shared_with'] = [name for name in by_key[tuple(grant['key'])]['sites']
                                     if name != report['site']]
    return [{key: value for key, value in entry.items() if key != 'key'}
            for entry in by_key.values()]


def _describe_grant(grant: dict[str, Any]) -> str:
    expiry = ('not stored' if not grant['stored'] else 'does not expire'
              if grant['expires_at'] is None else
              time.strftime('expires %Y-%m-%d %H:%M:%S UTC', time.gmtime(grant['expires_at'])))
    return (f'{grant["account"] or "account not yet known"} on {grant["central_wiki"]},'
            f' client {grant["client_id"]}, {expiry}')


def format_grants(grants: list[dict[str, Any]]) -> str:
    """``check --all``: every stored grant once, with the sites that use it."""
    lines = ['grants:']
    for grant in grants:
        lines.append(printable(f'  {_describe_grant(grant)}: used by {", ".join(grant["sites"])}'))
    return '\n'.join(lines)


def _store_in_use() -> str:
    """The token store's file path or database URL (password masked)."""
    from pwb_oauth_ext.protocol.store import describe_store
    try:
        return describe_store(facade.resolver.store())
    except Exception as exc:   # a bad setting is reported, not raised
        return f'unusable ({exc})'


def _login(report: dict[str, Any], family: str, code: str) -> Any:
    """Create the site and log in (one userinfo request); the site, or the reason it failed."""
    try:
        site = facade.logged_in_site(family, code, report['configured_user'])
    except Exception as exc:
        text = str(exc).strip() or type(exc).__name__
        if facade.is_network_failure(exc):
            raise _end(report, f'cannot reach {_host_port(report["api_url"])}: the wiki did not'
                               f' answer ({type(exc).__name__}: {text}); it may be down or'
                               ' overloaded', unreachable=True) from None
        kind = 'identity mismatch' if facade.is_identity_mismatch(exc) else 'login refused'
        raise _end(report, f'{kind}: {type(exc).__name__}: {text}') from None
    if not site.logged_in():
        raise _end(report, 'login refused: the wiki treated the request as anonymous')
    return site


# --- reachability ----------------------------------------------------------------

def _address(url: str) -> tuple[str, int]:
    """The host and port a URL connects to (the scheme's default port if none)."""
    from urllib.parse import urlsplit
    parts = urlsplit(url)
    return parts.hostname or '', parts.port or (443 if parts.scheme == 'https' else 80)


def _host_port(url: str) -> str:
    host, port = _address(url)
    return f'{host}:{port}'


def unreachable(url: str, timeout: Any = 30, *, verify: bool = True) -> str | None:
    """Why the wiki's host cannot be reached (DNS, refused, timeout, TLS), or None.

    A TCP connection and, for https, a TLS handshake; no HTTP request, so the
    wiki sees nothing. Skipped behind a proxy (only the proxy could tell).
    """
    import socket
    import ssl
    from urllib.parse import urlsplit

    if facade.uses_proxy(url):
        return None
    host, port = _address(url)
    connect_timeout = float(timeout[0] if isinstance(timeout, (tuple, list)) else timeout)
    try:
        sock = socket.create_connection((host, port), timeout=min(connect_timeout, 30.0))
    except OSError as exc:
        return f'cannot reach {host}:{port}: {describe_connect_error(exc, connect_timeout)}'
    with sock:
        if urlsplit(url).scheme != 'https':
            return None
        context = ssl.create_default_context(cafile=_ca_bundle())
        if not verify:   # the family turns certificate checks off for this site
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        try:
            with context.wrap_socket(sock, server_hostname=host):
                return None
        except (ssl.SSLError, OSError) as exc:
            return f'cannot reach {host}:{port}: {describe_connect_error(exc, connect_timeout)}'


def _ca_bundle() -> str | None:
    """The CA bundle requests uses (certifi), so the probe trusts what Pywikibot trusts."""
    try:
        import certifi
    except ImportError:
        return None
    return str(certifi.where())


def describe_connect_error(exc: BaseException, timeout: float) -> str:
    """One phrase for a failed connection: which of DNS, refused, timeout, TLS, and why."""
    import socket
    import ssl
    if isinstance(exc, socket.gaierror):
        return (f'DNS lookup failed ({exc.strerror or exc}): check the host name in the'
                ' family file, and the network or DNS settings')
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (f'TLS certificate not accepted ({exc.verify_message}): a proxy or the'
                ' wrong host answers, or the certificate expired')
    if isinstance(exc, ssl.SSLError):
        return (f'TLS handshake failed ({getattr(exc, "reason", None) or exc}): is this port'
                ' https? (an http server, or a proxy, answers there)')
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return (f'timeout: no answer within {timeout:g} s (a firewall, the wrong address,'
                ' or the wiki is down)')
    if isinstance(exc, ConnectionRefusedError):
        return ('connection refused: nothing listens on that port (the wiki server is not'
                ' running, or the port in the family file is wrong)')
    return f'{type(exc).__name__}: {getattr(exc, "strerror", None) or exc}'


# --- grants and token expiry -------------------------------------------------------

def _oauth2_grants(site: Any) -> list[str] | None:
    """The token's grants from rest.php/oauth2/resource/profile; None when unavailable."""
    try:
        response = facade.site_get(site, site.scriptpath() + PROFILE_PATH)
        if response.status_code != 200:
            return None
        grants = response.json().get('grants')
    except Exception:
        return None
    return _grant_names(grants)


def _oauth1_grants(site: Any, credential: OAuth1, key: str) -> list[str] | None:
    """The consumer's grants from Special:OAuth/identify (a verified JWT); None when unavailable."""
    from pwb_oauth_ext.protocol import oauth1 as handshake
    try:
        access, index_url = _oauth1_access(site, credential, key)
        if access is None:
            return None
        claims = handshake.identify(facade.post_without_auth, index_url,
                                    resolve_secret(credential.consumer_key, key),
                                    resolve_secret(credential.consumer_secret, key),
                                    access, server=server_of(index_url))
    except Exception:
        return None
    grants = claims.get('grants')
    if isinstance(grants, dict):  # PHP arrays with gaps arrive as {"0": .., "2": ..}
        grants = list(grants.values())
    return _grant_names(grants)


def _oauth1_access(site: Any, credential: OAuth1, key: str) -> tuple[Any, str]:
    """The access token pair of an OAuth 1.0a entry and the index.php to identify it on.

    A stored grant is identified on the wiki that made it (its JWT names that
    wiki); None for the pair when no grant is stored.
    """
    from pwb_oauth_ext.protocol import oauth1 as handshake
    if credential.has_access_token:
        return (handshake.TokenPair(resolve_secret(credential.access_token, key),
                                    resolve_secret(credential.access_secret, key)),
                site.base_url(site.path()))
    grant = facade.stored_grant(site, site.username())
    if grant is None or grant.found is None:
        return None, ''
    record = grant.found[1]
    return (handshake.TokenPair(record['access_token'], record['access_secret']),
            grant.central.script_url + '/index.php')


def _grant_names(grants: Any) -> list[str] | None:
    return [str(grant) for grant in grants] if isinstance(grants, list) else None


def _token_expiry(report: dict[str, Any], credential: OAuth2) -> None:
    """When the bearer token expires, from the token store (owner-only: never)."""
    from pwb_oauth_ext.config.grant_types import OwnerOnlyToken
    if isinstance(credential.grant_type, OwnerOnlyToken):
        report['token_expiry'] = 'does not expire'
        return
    grant = report.get('grant')
    if not grant or not grant['stored']:
        report['token_expiry'] = 'no stored token'
        return
    expires_at = grant['expires_at']
    if expires_at is None:
        report['token_expiry'] = 'does not expire'
        return
    report['token_expires_at'] = float(expires_at)
    remaining = float(expires_at) - time.time()
    when = time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(float(expires_at)))
    if remaining <= 0:
        report['token_expiry'] = f'expired at {when} (renewed on next use)'
    else:
        report['token_expiry'] = f'expires at {when} (in {_duration(remaining)})'


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 60:
        return f'{minutes} min'
    hours, minutes = divmod(minutes, 60)
    return f'{hours} h {minutes} min' if hours < 48 else f'{hours // 24} days'


def _file_warnings(warnings: list[str]) -> None:
    """Warn about secret-bearing files that group or others can read."""
    candidates = [('user-config.py', facade.user_config_path())]
    with contextlib.suppress(Exception):   # no token file in use: nothing to check
        candidates.append(('token file', facade.resolver.store().path))
    from pwb_oauth_ext.config.file_modes import others_may_access
    for label, path in candidates:
        try:
            mode = os.stat(path).st_mode
        except OSError:
            continue
        if others_may_access(mode):
            warnings.append(f'{label} {path} is readable by group or others'
                            f' (mode {stat.S_IMODE(mode):o}); run: chmod 600 {path}')


# --- text output ---------------------------------------------------------------

def format_report(report: dict[str, Any]) -> str:
    """A site's report as readable text."""
    lines = [printable(f'{report["site"]}  ({report["api_url"] or "unknown URL"})')]

    def row(label: str, value: Any) -> None:
        lines.append(f'  {label + ":":<13}{printable(value)}')   # names, wiki messages

    if report['key'] is not None:
        row('key', f'{report["key"]!r} ({report["key_reason"]})')
    else:
        row('key', 'none')
    row('protocol', _describe_protocol(report))
    if report['identity']:
        configured = report['configured_user'] or 'not set, taken from the token'
        row('identity', f'{report["identity"]} (configured user: {configured})')
        row('groups', ', '.join(report['groups']) or '-')
        grants = report['grants']
        row('grants', ', '.join(grants) if grants else 'unknown')
        rights = report['rights']
        row('rights', f'present: {", ".join(rights["present"]) or "-"};'
                      f' missing: {", ".join(rights["missing"]) or "-"}')
    if report['token_expiry']:
        row('token', report['token_expiry'])
    if report.get('grant'):
        row('grant', _describe_grant(report['grant']))
        row('shared with', ', '.join(report['shared_with']) or 'no other checked site')
    for warning in report['warnings']:
        row('WARNING', warning)
    for error in report['errors']:
        row('ERROR', error)
    row('result', 'OK' if report['ok'] else 'FAILED')
    if report['explanation'] and not report['ok'] and not report['unreachable']:
        lines.append('  how the key was chosen:')
        lines.extend('    ' + printable(line) for line in report['explanation'].splitlines())
    return '\n'.join(lines)


def _describe_protocol(report: dict[str, Any]) -> str:
    """The protocol's name and the entry's public id (or the reference it is read from)."""
    public_id = report['public_id']
    if public_id and '(' in public_id:   # a reference: env('NAME')...
        return f'{report["protocol_name"]} (key from {public_id})'
    if public_id:
        return f'{report["protocol_name"]} (id {public_id}...)'
    return report['protocol_name']
