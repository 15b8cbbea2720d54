"""Facts about a Pywikibot site that matching needs: its URL, script path, family, account."""
from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import Any

from pwb_oauth_ext.network.hosts import split_url

LOGGED_OUT = '_pwb_oauth_logged_out'


@dataclass(frozen=True)
class WikiAt:
    """The wiki a request goes to, as far as the grant's central wiki and endpoints need it.

    ``known`` is False when neither the site in flight nor any family of
    ``config.family_files`` names the request's host: ``script_url`` is then
    Pywikibot's default script path (``/w``) on that host, a guess that must
    not outlive the request (see ``Resolver.auth_for``).
    """

    script_url: str
    wikimedia: bool
    known: bool


def wiki_at(site: Any, url: str) -> WikiAt:
    """The wiki at ``url``: the site's own when the request goes to its host and port,
    else the wiki of the family whose code has that host, never the URL's directory."""
    target = split_url(url)
    if site is not None and split_url(site_url(site)) == target:
        return WikiAt(site.base_url(site.scriptpath()), _is_wikimedia(site.family), True)
    found = _family_wikis().get(target)
    if found is not None:
        return found
    from urllib.parse import urlsplit
    host, port = target
    netloc = host if port is None else f'{host}:{port}'
    guessed = f'{urlsplit(url).scheme}://{netloc}/w'
    if any(host == domain or host.endswith('.' + domain) for domain in _wikimedia_domains):
        # en.m.wikipedia.org and the like: a Wikimedia wiki no family code names
        # (its grant is Meta's, and every Wikimedia wiki's script path is /w).
        return WikiAt(guessed, True, True)
    return WikiAt(guessed, False, False)


def _is_wikimedia(family: Any) -> bool:
    from pywikibot.family import WikimediaFamily
    return isinstance(family, WikimediaFamily)


_family_index: dict[tuple[str, int | None], WikiAt] = {}
#: The domains of the Wikimedia families (``WikimediaFamily.domain``): wikipedia.org, ...
_wikimedia_domains: set[str] = set()
_family_index_source: list[Any] = [None, -1]   # config.family_files and its size when built
_family_index_lock = threading.Lock()


def _family_wikis() -> dict[tuple[str, int | None], WikiAt]:
    """``(host, port)`` -> wiki, for every code of every family in ``config.family_files``.

    Built once (loading each family: about 0.1 s for Pywikibot's 35), again when
    ``family_files`` changes. A host in several families keeps the first.
    """
    from pywikibot import config
    files = config.family_files
    if _family_index_source[0] is files and _family_index_source[1] == len(files):
        return _family_index
    with _family_index_lock:
        if _family_index_source[0] is files and _family_index_source[1] == len(files):
            return _family_index
        index: dict[tuple[str, int | None], WikiAt] = {}
        for name in list(files):
            _add_family(index, name)
        _family_index.clear()
        _family_index.update(index)
        _family_index_source[:] = [files, len(files)]
    return _family_index


def _add_family(index: dict[tuple[str, int | None], WikiAt], name: str) -> None:
    import warnings

    from pywikibot.family import Family
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            family = Family.load(name)
            codes = list(family.langs)
    except Exception:   # a broken family file is Pywikibot's to report, when it is used
        return
    wikimedia = _is_wikimedia(family)
    if wikimedia:
        with contextlib.suppress(Exception):   # foundation has no single domain
            _wikimedia_domains.add(str(family.domain).lower())
    for code in codes:
        try:
            base = f'{family.protocol(code)}://{family.hostname(code)}'
            target = split_url(base)
            script_url = base + family.scriptpath(code)
        except Exception:
            continue
        index.setdefault(target, WikiAt(script_url, wikimedia, True))


def reauthorize_hint(site: Any, account: str | None) -> str:
    """The command that obtains a token for this site."""
    if site is None:
        return 'run pwb-oauth authorize for that site'
    user = f' -user:{account}' if account else ''
    return f'run: pwb-oauth authorize -site:{site.family.name}:{site.code}{user}'


def site_url(site: Any, uri: str | None = None) -> str:
    """The URL a site request goes to (for host matching)."""
    return site.base_url(uri or site.apipath())
