"""Facts about a Pywikibot site that matching needs: its URL, script path, family, account."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pwb_oauth_ext.network.hosts import split_url

if TYPE_CHECKING:
    pass



LOGGED_OUT = '_pwb_oauth_logged_out'


def wiki_script_url(site: Any, url: str) -> str:
    """The script URL of the wiki a request goes to (its own, not the site's in flight)."""
    if site is not None and split_url(site_url(site)) == split_url(url):
        return site.base_url(site.scriptpath())
    from urllib.parse import urlsplit
    parts = urlsplit(url)
    return f'{parts.scheme}://{parts.netloc}{parts.path.rsplit("/", 1)[0]}'


def is_wikimedia_wiki(site: Any, url: str) -> bool:
    """True when the request goes to the site's own host and the site is a Wikimedia wiki."""
    if site is None or split_url(site_url(site)) != split_url(url):
        return False
    from pywikibot.family import WikimediaFamily
    return isinstance(site.family, WikimediaFamily)


def reauthorize_hint(site: Any, account: str | None) -> str:
    """The command that obtains a token for this site."""
    if site is None:
        return 'run pwb-oauth authorize for that site'
    user = f' -user:{account}' if account else ''
    return f'run: pwb-oauth authorize -site:{site.family.name}:{site.code}{user}'


def site_url(site: Any, uri: str | None = None) -> str:
    """The URL a site request goes to (for host matching)."""
    return site.base_url(uri or site.apipath())
