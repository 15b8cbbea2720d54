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
from pathlib import Path
from typing import Any, TextIO

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


def load_pywikibot() -> Any:
    """Import Pywikibot (reads user-config.py from PYWIKIBOT_DIR)."""
    import pywikibot
    return pywikibot


def _user_config_path() -> Path:
    from pywikibot import config
    return Path(config.base_dir) / 'user-config.py'


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
    pywikibot = load_pywikibot()
    from pywikibot import config
    # A check reports, it does not wait: no retry loop on a wiki that does not answer.
    config.max_retries = 0
    targets = list(sites)
    if not targets or all_sites:
        default = (config.family, config.mylang)
        if default not in targets:
            targets.append(default)
    if all_sites:
        for family, codes in config.usernames.items():
            for code in codes:
                if code != '*' and (family, code) not in targets:
                    targets.append((family, code))
    reports = [check_site(pywikibot, family, code) for family, code in targets]
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


def check_site(pywikibot: Any, family_name: str, code: str) -> dict[str, Any]:
    """One site's report as a JSON-ready dict (``ok``, ``errors``, ``warnings``, ...)."""
    from pywikibot import config

    report: dict[str, Any] = {
        'site': f'{family_name}:{code}', 'api_url': None, 'configured_user': None,
        'key': None, 'key_reason': None, 'explanation': None,
        'protocol': 'none', 'protocol_name': 'none', 'public_id': None,
        'identity': None, 'groups': [], 'grants': None,
        'rights': {'present': [], 'missing': []},
        'token_expires_at': None, 'token_expiry': None, 'grant': None, 'shared_with': [],
        'warnings': [], 'errors': [], 'unreachable': False, 'ok': False,
    }
    errors: list[str] = report['errors']
    warnings: list[str] = report['warnings']
    _file_warnings(warnings)
    if not _enabled():
        warnings.append('pwb_oauth_ext is not enabled in user-config.py'
                        ' (add: import pwb_oauth_ext as _oauth; _oauth.enable())')
    try:
        family = pywikibot.family.Family.load(family_name)
        api_url = family.base_url(code, family.apipath(code))
    except Exception as exc:
        errors.append(f'unknown site {family_name}:{code}: {type(exc).__name__}: {exc}')
        return report
    report['api_url'] = api_url
    configured = (config.usernames.get(family_name, {}).get(code)
                  or config.usernames.get(family_name, {}).get('*'))
    report['configured_user'] = configured

    from pwb_oauth_ext.network.hosts import HostTable
    try:
        explanation = HostTable(config.authenticate).explain(api_url, configured)
    except Exception as exc:
        errors.append(f'config.authenticate cannot be read: {exc}')
        return report
    report['explanation'] = explanation.format()
    match = explanation.winner
    if match is None:
        errors.append(f'no config.authenticate key matches {api_url}')
        return report
    report['key'] = match.key.original
    report['key_reason'] = match.reason
    if match.key.is_catch_all:
        warnings.append(f"the catch-all key {match.key.original!r} is in use: add a key for"
                        ' this host so these credentials cannot go to another one')
    elif any(candidate.key.is_catch_all for candidate in explanation.candidates):
        warnings.append("config.authenticate has a catch-all key '*': every host without"
                        ' a key of its own gets those credentials')
    try:
        grant_type = _grant_type_of(match)
    except Exception as exc:
        errors.append(str(exc))
        return report
    report['protocol'] = grant_type.name
    report['protocol_name'] = grant_type.title
    from pwb_oauth_ext.config.credentials import OAuth1, OAuth2, credential_from_config
    from pwb_oauth_ext.config.grant_types import (
        AuthorizationCode,
        OAuth1Token,
        OAuth2GrantType,
    )
    credential = credential_from_config(match.key.original, match.value)
    report['public_id'] = credential.public_id() or None
    if not _enabled() and isinstance(match.value, (OAuth1, OAuth2)):
        errors.append(f'authenticate[{match.key.original!r}] is {type(match.value).__name__}'
                      '(...), which only works with the plugin enabled: add'
                      ' "_oauth.enable()" after "import pwb_oauth_ext as _oauth" in'
                      ' user-config.py')
        return report

    if isinstance(grant_type, AuthorizationCode) and credential.client_secret is None:
        warnings.append(PUBLIC_CLIENT_WARNING)
    problem = unreachable(api_url, config.socket_timeout,
                          verify=family.verify_SSL_certificate(code))
    if problem:
        report['unreachable'] = True
        errors.append(problem)
        return report
    site = _login(pywikibot, family_name, code, configured, errors, api_url)
    if site is None:
        report['unreachable'] = any(error.startswith('cannot reach') for error in errors)
        return report
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
    if isinstance(grant_type, OAuth2GrantType):
        report['grants'] = _oauth2_grants(site)
        _token_expiry(report, credential, site, api_url)
    elif isinstance(grant_type, OAuth1Token):
        report['grants'] = _oauth1_grants(site, credential, match.key.original, api_url)
    report['ok'] = not errors
    return report


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
    from pwb_oauth_ext.integration import facade as pywikibot_adapter
    resolver = pywikibot_adapter.resolver
    try:
        url = pywikibot_adapter.site_url(site)
        match = resolver.match(url, site.username())
        grant = resolver.grant_of(match, site.username(), url, site) if match else None
        found = resolver.store().find(grant[1]) if grant else None
    except Exception as exc:
        warnings.append(f'token store unreadable: {exc}')
        return None
    if grant is None:
        return None
    key, record = found if found else (grant[1], {})
    expires_at = record.get('expires_at')
    return {'central_wiki': key.central_wiki, 'client_id': key.client_id[:6] + '...',
            'account': key.account, 'stored': found is not None,
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
        lines.append(f'  {_describe_grant(grant)}: used by {", ".join(grant["sites"])}')
    return '\n'.join(lines)


def _store_in_use() -> str:
    """The token store's file path or database URL (password masked)."""
    from pwb_oauth_ext.integration import facade as pywikibot_adapter
    from pwb_oauth_ext.protocol.store import describe_store
    try:
        return describe_store(pywikibot_adapter.resolver.store())
    except Exception as exc:   # a bad setting is reported, not raised
        return f'unusable ({exc})'


def _enabled() -> bool:
    from pwb_oauth_ext.integration import facade as pywikibot_adapter
    return pywikibot_adapter.installed()


def _login(pywikibot: Any, family: str, code: str, user: str | None,
           errors: list[str], api_url: str) -> Any:
    """Create the site and log in (one userinfo request); None with the reason on failure."""
    from pwb_oauth_ext.integration import facade as pywikibot_adapter
    try:
        site = pywikibot.Site(code, family, user=user)
        site.login()
    except Exception as exc:
        text = str(exc).strip() or type(exc).__name__
        if _is_network_failure(exc) and not pywikibot_adapter.is_expected_failure(exc):
            errors.append(f'cannot reach {_host_port(api_url)}: the wiki did not answer'
                          f' ({type(exc).__name__}: {text}); it may be down or overloaded')
            return None
        kind = ('identity mismatch' if pywikibot_adapter.is_identity_mismatch(exc)
                else 'login refused')
        errors.append(f'{kind}: {type(exc).__name__}: {text}')
        return None
    if not site.logged_in():
        errors.append('login refused: the wiki treated the request as anonymous')
        return None
    return site


def _is_network_failure(exc: BaseException) -> bool:
    """Pywikibot's ways of saying the wiki did not answer (after its retries, if any)."""
    import requests
    from pywikibot import exceptions
    retries_exhausted = getattr(exceptions, 'ApiTimeoutError', None) or exceptions.TimeoutError
    return isinstance(exc, (retries_exhausted, exceptions.ServerError, ConnectionError,
                            requests.RequestException))   # ApiTimeoutError: 11.x, before: 10.x


# --- reachability ----------------------------------------------------------------

def _host_port(url: str) -> str:
    from urllib.parse import urlsplit
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == 'https' else 80)
    return f'{parts.hostname}:{port}'


def unreachable(url: str, timeout: Any = 30, *, verify: bool = True) -> str | None:
    """Why the wiki's host cannot be reached (DNS, refused, timeout, TLS), or None.

    A TCP connection and, for https, a TLS handshake; no HTTP request, so the
    wiki sees nothing. Skipped behind a proxy (only the proxy could tell).
    """
    import socket
    import ssl
    from urllib.parse import urlsplit

    import requests
    from pywikibot.comms import http

    if http.session.proxies or requests.utils.get_environ_proxies(url):
        return None
    parts = urlsplit(url)
    host = parts.hostname or ''
    port = parts.port or (443 if parts.scheme == 'https' else 80)
    connect_timeout = float(timeout[0] if isinstance(timeout, (tuple, list)) else timeout)
    try:
        sock = socket.create_connection((host, port), timeout=min(connect_timeout, 30.0))
    except OSError as exc:
        return f'cannot reach {host}:{port}: {describe_connect_error(exc, connect_timeout)}'
    with sock:
        if parts.scheme != 'https':
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


def _oauth2_grants(site: Any) -> list[str] | None:
    """The token's grants from rest.php/oauth2/resource/profile; None when unavailable."""
    from pywikibot.comms import http
    try:
        # It carries the bearer token: redirects off, like every request with a secret.
        response = http.request(site, uri=site.scriptpath() + PROFILE_PATH,
                                method='GET', allow_redirects=False)
        if response.status_code != 200:
            return None
        grants = response.json().get('grants')
    except Exception:
        return None
    return [str(grant) for grant in grants] if isinstance(grants, list) else None


def _oauth1_grants(site: Any, credential: Any, key: str, api_url: str) -> list[str] | None:
    """The consumer's grants from Special:OAuth/identify (a verified JWT); None when unavailable."""
    from pwb_oauth_ext.commands.authorize import post_empty, server_of, wiki_server
    from pwb_oauth_ext.config.references import resolve_secret
    from pwb_oauth_ext.integration.facade import resolver, site_url
    from pwb_oauth_ext.protocol import oauth1 as handshake
    try:
        index_url, server = site.base_url(site.path()), wiki_server(site)
        consumer_key = resolve_secret(credential.consumer_key, key)
        consumer_secret = resolve_secret(credential.consumer_secret, key)
        if credential.has_access_token:
            access = handshake.TokenPair(resolve_secret(credential.access_token, key),
                                         resolve_secret(credential.access_secret, key))
        else:
            match = resolver.match(site_url(site), site.username())
            grant = resolver.grant_of(match, site.username(), site_url(site), site)
            found = resolver.store().find(grant[1]) if grant else None
            if grant is None or found is None:
                return None
            record = found[1]
            access = handshake.TokenPair(record['access_token'], record['access_secret'])
            # identify answers on the wiki that made the grant (its JWT names that wiki)
            index_url = grant[0].script_url + '/index.php'
            server = server_of(index_url)
        claims = handshake.identify(post_empty, index_url, consumer_key, consumer_secret,
                                    access, server=server)
    except Exception:
        return None
    grants = claims.get('grants')
    if isinstance(grants, dict):  # PHP arrays with gaps arrive as {"0": .., "2": ..}
        grants = list(grants.values())
    return [str(grant) for grant in grants] if isinstance(grants, list) else None


def _token_expiry(report: dict[str, Any], credential: Any, site: Any, api_url: str) -> None:
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
    from pwb_oauth_ext.integration import facade as pywikibot_adapter
    candidates = [('user-config.py', _user_config_path())]
    with contextlib.suppress(Exception):   # no token file in use: nothing to check
        candidates.append(('token file', pywikibot_adapter.resolver.store().path))
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
    lines = [f'{report["site"]}  ({report["api_url"] or "unknown URL"})']

    def row(label: str, value: Any) -> None:
        lines.append(f'  {label + ":":<13}{value}')

    if report['key'] is not None:
        row('key', f'{report["key"]!r} ({report["key_reason"]})')
    else:
        row('key', 'none')
    proto = report['protocol_name']
    if report['public_id'] and '(' in report['public_id']:   # a reference: env('NAME')...
        proto += f' (key from {report["public_id"]})'
    elif report['public_id']:
        proto += f' (id {report["public_id"]}...)'
    row('protocol', proto)
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
        lines.extend('    ' + line for line in report['explanation'].splitlines())
    return '\n'.join(lines)
