"""The page side of the Action API: query modules and the write actions bots use.

Kept apart from ``actionapi.py`` (authentication, tokens, userinfo, siteinfo,
paraminfo): this module answers ``prop=info|revisions|categories|templates|links|
categoryinfo``, ``list=allpages|categorymembers|backlinks|embeddedin|search|logevents|
recentchanges|allusers|users|usercontribs`` (also as generators), and ``action=edit``
(with edit conflicts from ``basetimestamp``), ``purge``, ``move`` and ``delete``, in the
shapes MediaWiki 1.39/1.43 give (formatversion 1 and 2). Links, templates, categories
and redirects come from the wikitext itself, so they always agree with what a bot saved.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Callable

from pwb_oauth_ext.testwiki.apidata import recorded
from pwb_oauth_ext.testwiki.model import Revision, Wiki, WikiPage

if TYPE_CHECKING:
    from pwb_oauth_ext.testwiki.actionapi import Caller

_REDIRECT = re.compile(r'^\s*#redirect\s*:?\s*\[\[\s*([^\]|#]+)', re.IGNORECASE)
_LINK = re.compile(r'\[\[\s*(:?)([^\[\]|#]+)(?:#[^\[\]|]*)?(?:\|([^\[\]]*))?\]\]')
_TEMPLATE = re.compile(r'\{\{\s*([^{}|#]+?)\s*(?:\|[^{}]*)?\}\}')
_INVALID_CHARS = re.compile(r'[#<>\[\]|{}\x00-\x1f\x7f]')
_NOINCLUDE = re.compile(r'<noinclude>.*?(?:</noinclude>|$)', re.IGNORECASE | re.DOTALL)
_INCLUDEONLY = re.compile(r'<includeonly>.*?(?:</includeonly>|$)', re.IGNORECASE | re.DOTALL)
_INCLUSION_TAGS = re.compile(r'</?(?:includeonly|noinclude|onlyinclude)>', re.IGNORECASE)

DEFAULT_LIMIT = 10
#: Modules that continue with ``offset`` instead of ``continue``, and those without a limit.
OFFSET_MODULES = frozenset({'search', 'prefixsearch'})
UNLIMITED_MODULES = frozenset({'users'})
MAX_LIMIT, HIGH_MAX_LIMIT = 500, 5000


#: MediaWiki core's English texts of the interface messages Pywikibot and its scripts ask
#: for (meta=allmessages); any other name is reported missing, as MediaWiki does.
MESSAGES = {
    'about': 'About', 'and': '&#32;and', 'brackets': '[$1]', 'colon-separator': ':&#32;',
    'comma-separator': ',&#32;', 'double-colon-separator': '&#32;::&#32;',
    'hidden-category-category': 'Hidden categories', 'mainpage': 'Main Page',
    'pagecategories': '{{PLURAL:$1|Category|Categories}}', 'parentheses': '($1)',
    'pipe-separator': '&#32;|&#32;', 'semicolon-separator': ';&#32;&#32;',
    'word-separator': '&#32;', 'autocomment-prefix': '-&#32;',
    'disambiguationspage': 'Template:disambig', 'redirect': 'Redirect',
    'broken-file-category': 'Pages with broken file links',
    'category-file-count': '{{PLURAL:$2|This category contains only the following file.'
                           '|The following {{PLURAL:$1|file is|$1 files are}} in this '
                           'category, out of $2 total.}}',
}


class ApiFailure(Exception):
    """An API error raised from this module (code, info); actionapi reports it."""

    def __init__(self, code: str, info: str) -> None:
        super().__init__(code)
        self.code = code
        self.info = info


def _flag(fv2: bool) -> Any:
    """How MediaWiki writes a true boolean: True (formatversion=2) or '' (1)."""
    return True if fv2 else ''


class PagesApi:
    """Query modules and page actions over one ``Wiki``."""

    def __init__(self, wiki: Wiki) -> None:
        self.wiki = wiki
        self.lists: dict[str, Callable[..., list[dict[str, Any]]]] = {
            'allpages': self._list_allpages, 'categorymembers': self._list_categorymembers,
            'backlinks': self._list_backlinks, 'embeddedin': self._list_embeddedin,
            'search': self._list_search, 'prefixsearch': self._list_prefixsearch,
            'logevents': self._list_logevents, 'recentchanges': self._list_recentchanges,
            'allusers': self._list_allusers, 'users': self._list_users,
            'usercontribs': self._list_usercontribs, 'allcategories': self._list_allcategories,
        }
        #: prop modules that are generators: page -> the titles it points at.
        self.page_links: dict[str, Callable[[WikiPage], list[str]]] = {
            'categories': self.categories_of, 'templates': self.templates_of,
            'links': self.links_of,
            'linkshere': lambda page: [p.title for p in self._pages_linking_to(page.title)],
            'transcludedin': lambda page: [p.title for p in self._pages_embedding(page.title)],
        }

    # -- titles ------------------------------------------------------------------
    def _namespaces(self) -> dict[str, Any]:
        return recorded(self.wiki.mediawiki, 'siteinfo', self.wiki.server_url)['namespaces']

    def _namespace_names(self) -> dict[str, int]:
        siteinfo = recorded(self.wiki.mediawiki, 'siteinfo', self.wiki.server_url)
        names = {}
        for ns in siteinfo['namespaces'].values():
            for name in (ns.get('name'), ns.get('canonical')):
                if name:
                    names[name.lower()] = ns['id']
        for alias in siteinfo['namespacealiases']:
            names[alias['alias'].lower()] = alias['id']
        return names

    def namespace_name(self, ns: int) -> str:
        """The local name of namespace ``ns`` ('' for the main namespace)."""
        return self._namespaces()[str(ns)]['name']

    def normalize(self, raw: str, default_ns: int = 0) -> tuple[int, str] | None:
        """(namespace, title) as MediaWiki writes the title, or None when it is invalid."""
        title = re.sub(r'[ _]+', ' ', raw).strip()
        if title.startswith(':'):
            title, default_ns = title[1:].strip(), 0
        if not title or _INVALID_CHARS.search(title):
            return None
        ns = default_ns
        prefix, sep, rest = title.partition(':')
        if sep:
            known = self._namespace_names().get(prefix.strip().lower())
            if known is not None:
                ns, title = known, rest.strip()
                if not title:
                    return None
        title = title[:1].upper() + title[1:]
        name = self.namespace_name(ns)
        return ns, f'{name}:{title}' if name else title

    def ns_of(self, title: str) -> int:
        normalized = self.normalize(title)
        return normalized[0] if normalized else 0

    def _target(self, raw: str, default_ns: int = 0) -> str | None:
        normalized = self.normalize(raw, default_ns)
        return normalized[1] if normalized else None

    # -- what wikitext says ------------------------------------------------------
    def redirect_target(self, page: WikiPage) -> str | None:
        match = _REDIRECT.match(page.text)
        return self._target(match.group(1)) if match else None

    def links_of(self, page: WikiPage) -> list[str]:
        found = []
        for colon, target, _label in _LINK.findall(page.text):
            title = self._target(target)
            if title and (colon or self.ns_of(title) not in (6, 14)) and title not in found:
                found.append(title)
        return found

    def templates_of(self, page: WikiPage) -> list[str]:
        found = []
        for name in _TEMPLATE.findall(page.text):
            if name.startswith('#') or (':' in name and not self.normalize(name)):
                continue
            prefix = name.partition(':')[0].strip()
            if ':' in name and prefix.lower() not in self._namespace_names():
                continue   # a magic word or parser function ({{DEFAULTSORT:x}})
            title = self._target(name, default_ns=10)
            if title and title not in found:
                found.append(title)
        return found

    def _category_links(self, text: str) -> list[tuple[str, str]]:
        found = []
        for colon, target, sortkey in _LINK.findall(text):
            title = self._target(target)
            if title and not colon and self.ns_of(title) == 14:
                found.append((title, sortkey or ''))
        return found

    def categories_of(self, page: WikiPage) -> list[str]:
        """Categories from the page's own links and from the templates it uses."""
        own = _INCLUSION_TAGS.sub('', _INCLUDEONLY.sub('', page.text))
        found = [title for title, _ in self._category_links(own)]
        for template in self.templates_of(page):
            used = self.wiki.pages.get(template)
            if used is not None and used.title != page.title:
                included = _INCLUSION_TAGS.sub('', _NOINCLUDE.sub('', used.text))
                found += [title for title, _ in self._category_links(included)]
        return list(dict.fromkeys(found))

    def _pages(self) -> list[WikiPage]:
        return sorted(self.wiki.pages.values(), key=lambda p: (self.ns_of(p.title), p.title))

    def _pages_linking_to(self, title: str) -> list[WikiPage]:
        return [p for p in self._pages() if title in self.links_of(p)
                or self.redirect_target(p) == title]

    def _pages_embedding(self, title: str) -> list[WikiPage]:
        return [p for p in self._pages() if title in self.templates_of(p)]

    def members_of(self, category: str) -> list[WikiPage]:
        return [p for p in self._pages() if category in self.categories_of(p)]

    # -- action=query: the page set ----------------------------------------------
    def query(self, params: dict[str, str], caller: Caller, fv2: bool,
              query: dict[str, Any], body: dict[str, Any]) -> None:
        """Fill ``query`` (and ``body['continue']``) for the page set, props and lists."""
        continuation: dict[str, str] = {}
        for name in _split(params.get('list', '')):
            if name in self.lists:
                prefix = self._prefix(name)
                items = self.lists[name](_prefixed(params, prefix), caller, fv2, query)
                query[name] = self._page_of(items, params, prefix, caller, continuation,
                                            name)
        titles, generated = self._page_set(params, caller, fv2, query, continuation)
        if titles is not None:
            self._page_entries(titles, params, caller, fv2, query, generated)
        if continuation:
            generator_key = next((k for k in continuation if k.startswith('g')), None)
            body['continue'] = {**continuation,
                                'continue': f'{generator_key}||' if generator_key else '-||'}

    def _prefix(self, module: str) -> str:
        paraminfo = recorded(self.wiki.mediawiki, 'paraminfo', self.wiki.server_url)
        return paraminfo['modules']['query+' + module]['prefix']

    def _page_of(self, items: list[Any], params: dict[str, str], prefix: str,
                 caller: Caller, continuation: dict[str, str], module: str) -> list[Any]:
        """One batch of ``items`` from ``{prefix}continue``, noting where the next starts."""
        if module in UNLIMITED_MODULES:
            return items
        key = prefix + ('offset' if module in OFFSET_MODULES else 'continue')
        try:
            start = int(params.get(key) or 0)
        except ValueError:
            raise ApiFailure('badcontinue', 'Invalid continue param. You should pass the '
                             'original value returned by the previous query.') from None
        limit = _limit(params.get(prefix + 'limit'), caller)
        if start + limit < len(items):
            continuation[key] = str(start + limit)
        return items[start:start + limit]

    def _page_set(self, params: dict[str, str], caller: Caller, fv2: bool,
                  query: dict[str, Any], continuation: dict[str, str]
                  ) -> tuple[list[str] | None, bool]:
        """The titles the query is about (None: no page set), and whether a generator made them."""
        generator = params.get('generator')
        if generator:
            source = self._titles_from_params(params, query)
            prefix = 'g' + (self._prefix(generator) if generator in self.lists
                            or generator in self.page_links else '')
            if generator in self.lists:
                items = self.lists[generator](_prefixed(params, prefix), caller, fv2, {})
                batch = self._page_of(items, params, prefix, caller, continuation,
                                      generator)
                titles = [item['title'] for item in batch if 'title' in item]
            elif generator in self.page_links:
                titles = []
                for title in source or []:
                    page = self.wiki.pages.get(title)
                    if page is not None:
                        titles += [t for t in self.page_links[generator](page)
                                   if t not in titles]
                titles = self._page_of(titles, params, prefix, caller, continuation,
                                       generator)
            elif generator == 'revisions' or generator == 'info':
                titles = source or []
            else:
                titles = []
            return titles, True
        if not any(key in params for key in ('titles', 'pageids', 'revids')):
            return None, False
        return self._titles_from_params(params, query), False

    def _titles_from_params(self, params: dict[str, str], query: dict[str, Any]) -> list[str]:
        titles: list[str] = []
        normalized = []
        for raw in _split(params.get('titles', '')):
            result = self.normalize(raw)
            if result is None:
                titles.append('\x00' + raw)        # reported as invalid
                continue
            if result[1] != raw:
                normalized.append({'from': raw, 'to': result[1]})
            titles.append(result[1])
        by_id = {str(p.pageid): p.title for p in self.wiki.pages.values()}
        for pageid in _split(params.get('pageids', '')):
            titles.append(by_id.get(pageid, f'\x01{pageid}'))
        revs = {str(r.revid): p.title for p in self.wiki.pages.values() for r in p.revisions}
        for revid in _split(params.get('revids', '')):
            if revid in revs:
                titles.append(revs[revid])
            else:
                query.setdefault('badrevids', {})[revid] = {'revid': int(revid), 'missing': ''}
        if normalized:
            query['normalized'] = normalized
        if 'redirects' in params:
            redirects = []
            for index, title in enumerate(titles):
                page = self.wiki.pages.get(title)
                target = self.redirect_target(page) if page else None
                if target:
                    redirects.append({'from': title, 'to': target})
                    titles[index] = target
            if redirects:
                query['redirects'] = redirects
        return list(dict.fromkeys(titles))

    def _page_entries(self, titles: list[str], params: dict[str, str], caller: Caller,
                      fv2: bool, query: dict[str, Any], generated: bool) -> None:
        props = _split(params.get('prop', ''))
        entries: list[tuple[str, dict[str, Any]]] = []
        missing_id = -1
        with self.wiki.lock:
            for title in titles:
                if title.startswith('\x00'):
                    entries.append((str(missing_id), {
                        'title': title[1:], 'invalidreason': 'The requested page title '
                        'contains invalid characters.', 'invalid': _flag(fv2)}))
                elif title.startswith('\x01'):
                    entries.append((str(missing_id), {'pageid': int(title[1:]),
                                                      'missing': _flag(fv2)}))
                else:
                    page = self.wiki.pages.get(title)
                    ns = self.ns_of(title)
                    if page is None:
                        entry = {'ns': ns, 'title': title, 'missing': _flag(fv2)}
                        if ns == -1:
                            entry = {'ns': ns, 'title': title, 'special': _flag(fv2)}
                        self._missing_props(entry, props, params, fv2)
                        entries.append((str(missing_id), entry))
                    else:
                        entries.append((str(page.pageid),
                                        self._page_entry(page, props, params, caller, fv2)))
                        continue
                missing_id -= 1
        if 'indexpageids' in params:
            query['pageids'] = [key for key, _ in entries]
        if entries:
            query['pages'] = ([entry for _, entry in entries] if fv2 else dict(entries))

    def _missing_props(self, entry: dict[str, Any], props: list[str],
                       params: dict[str, str], fv2: bool) -> None:
        if 'info' in props:
            entry.update({'contentmodel': 'wikitext', 'pagelanguage': 'en',
                          'pagelanguagehtmlcode': 'en', 'pagelanguagedir': 'ltr'})
            if 'protection' in params.get('inprop', ''):
                entry['protection'] = []
                entry['restrictiontypes'] = ['create']
        if 'categoryinfo' in props and entry['ns'] == 14:
            members = self.members_of(entry['title'])
            if members:
                entry['categoryinfo'] = _category_counts(members, self)

    def _page_entry(self, page: WikiPage, props: list[str], params: dict[str, str],
                    caller: Caller, fv2: bool) -> dict[str, Any]:
        last = page.revisions[-1]
        ns = self.ns_of(page.title)
        entry: dict[str, Any] = {'pageid': page.pageid, 'ns': ns, 'title': page.title}
        if 'info' in props:
            entry.update({
                'contentmodel': 'wikitext', 'pagelanguage': 'en',
                'pagelanguagehtmlcode': 'en', 'pagelanguagedir': 'ltr',
                'touched': page.touched or last.timestamp, 'lastrevid': last.revid,
                'length': len(last.text.encode('utf-8'))})
            if self.redirect_target(page):
                entry['redirect'] = _flag(fv2)
            if len(page.revisions) == 1:
                entry['new'] = _flag(fv2)
            inprop = _split(params.get('inprop', ''))
            if 'protection' in inprop:
                entry['protection'] = []
                entry['restrictiontypes'] = ['edit', 'move']
            if 'url' in inprop:
                url = f'{self.wiki.server_url}/index.php/{page.title.replace(" ", "_")}'
                entry.update({'fullurl': url, 'editurl': url + '?action=edit',
                              'canonicalurl': url})
            if 'displaytitle' in inprop:
                entry['displaytitle'] = page.title
        if 'revisions' in props:
            entry['revisions'] = self._revisions(page, _prefixed(params, 'rv'), fv2)
        for name, key, prefix in (('categories', 'categories', 'cl'),
                                  ('templates', 'templates', 'tl'), ('links', 'links', 'pl')):
            if name in props:
                wanted = self.page_links[name](page)
                filters = [self._target(t) for t in _split(params.get(prefix + name, '')
                                                            if name != 'links' else
                                                            params.get('pltitles', ''))]
                if filters:
                    wanted = [t for t in wanted if t in filters]
                namespaces = _split(params.get(prefix + 'namespace', ''))
                if namespaces and '*' not in namespaces:
                    wanted = [t for t in wanted if str(self.ns_of(t)) in namespaces]
                if wanted:
                    entry[key] = [{'ns': self.ns_of(t), 'title': t} for t in wanted]
        if 'categoryinfo' in props and ns == 14:
            entry['categoryinfo'] = _category_counts(self.members_of(page.title), self)
        if 'pageprops' in props:
            pass   # the wiki stores no page properties
        return entry

    def _revisions(self, page: WikiPage, rv: dict[str, str], fv2: bool) -> list[dict[str, Any]]:
        rvprop = _split(rv.get('prop', 'ids|timestamp|flags|comment|user'))
        return [self._revision_entry(page, rev, rvprop, bool(rv.get('slots')), fv2)
                for rev in _selected_revisions(page, rv)]

    def _revision_entry(self, page: WikiPage, rev: Revision, rvprop: list[str], slots: bool,
                        fv2: bool) -> dict[str, Any]:
        """One revision with the properties ``rvprop`` asks for."""
        index = page.revisions.index(rev)
        parent = page.revisions[index - 1].revid if index else 0
        data = rev.text.encode('utf-8')
        out: dict[str, Any] = {}
        if 'ids' in rvprop:
            out.update({'revid': rev.revid, 'parentid': parent})
        if 'flags' in rvprop and rev.minor:
            out['minor'] = _flag(fv2)
        if 'user' in rvprop:
            out['user'] = rev.user
        if 'userid' in rvprop:
            user = self.wiki.users.get(rev.user)
            out['userid'] = user.id if user else 0
        if 'timestamp' in rvprop:
            out['timestamp'] = rev.timestamp
        if 'size' in rvprop:
            out['size'] = len(data)
        if 'sha1' in rvprop:
            out['sha1'] = hashlib.sha1(data).hexdigest()
        if 'roles' in rvprop:
            out['roles'] = ['main']
        if 'comment' in rvprop:
            out['comment'] = rev.comment
        if 'parsedcomment' in rvprop:
            out['parsedcomment'] = rev.comment
        if 'tags' in rvprop:
            out['tags'] = []
        if 'content' in rvprop or 'contentmodel' in rvprop:
            slot: dict[str, Any] = {'contentmodel': 'wikitext',
                                    'contentformat': 'text/x-wiki'}
            if 'content' in rvprop:
                slot['content' if fv2 else '*'] = rev.text
            if slots:
                out['slots'] = {'main': slot}
            else:
                out.update(slot)
        return out

    # -- list modules ----------------------------------------------------------
    def _item(self, page: WikiPage) -> dict[str, Any]:
        return {'pageid': page.pageid, 'ns': self.ns_of(page.title), 'title': page.title}

    def _filter_ns(self, pages: Iterable[WikiPage], namespaces: str,
                   default: str | None = None) -> list[WikiPage]:
        wanted = _split(namespaces or (default or ''))
        if not wanted or '*' in wanted:
            return list(pages)
        return [p for p in pages if str(self.ns_of(p.title)) in wanted]

    def _filter_redirects(self, pages: list[WikiPage], mode: str) -> list[WikiPage]:
        if mode == 'redirects':
            return [p for p in pages if self.redirect_target(p)]
        if mode == 'nonredirects':
            return [p for p in pages if not self.redirect_target(p)]
        return pages

    def _list_allpages(self, p: dict[str, str], caller: Caller, fv2: bool,
                       query: dict[str, Any]) -> list[dict[str, Any]]:
        ns = int(p.get('namespace') or 0)
        pages = [page for page in self._pages() if self.ns_of(page.title) == ns]
        name = self.namespace_name(ns)

        def bare(page: WikiPage) -> str:
            return page.title[len(name) + 1:] if name else page.title
        start, end = p.get('from', '').replace('_', ' '), p.get('to', '').replace('_', ' ')
        prefix = p.get('prefix', '').replace('_', ' ')
        pages = [page for page in pages if (not start or bare(page) >= start)
                 and (not end or bare(page) <= end) and bare(page).startswith(prefix)]
        pages = self._filter_redirects(pages, p.get('filterredir', 'all'))
        if p.get('dir') == 'descending':
            pages.reverse()
        return [self._item(page) for page in pages]

    def _list_allcategories(self, p: dict[str, str], caller: Caller, fv2: bool,
                            query: dict[str, Any]) -> list[dict[str, Any]]:
        names = sorted({c for page in self._pages() for c in self.categories_of(page)})
        return [{'ns': 14, 'title': c, 'category' if fv2 else '*': c.split(':', 1)[1]}
                for c in names if c.split(':', 1)[1] >= p.get('from', '')]

    def _list_categorymembers(self, p: dict[str, str], caller: Caller, fv2: bool,
                              query: dict[str, Any]) -> list[dict[str, Any]]:
        if p.get('pageid'):
            page = next((x for x in self.wiki.pages.values()
                         if str(x.pageid) == p['pageid']), None)
            title = page.title if page else None
        else:
            if 'title' not in p:
                raise ApiFailure('invalidparammix', 'One of the parameters "cmtitle" and '
                                 '"cmpageid" is required.')
            title = self._target(p['title'])
        if title is None or self.ns_of(title) != 14:
            raise ApiFailure('invalidcategory', 'The category name you entered is not valid.')
        members = self._filter_ns(self.members_of(title), p.get('namespace', ''))
        types = _split(p.get('type', 'page|subcat|file'))
        kind = {14: 'subcat', 6: 'file'}
        members = [m for m in members if kind.get(self.ns_of(m.title), 'page') in types]
        if p.get('dir') in ('desc', 'descending'):
            members.reverse()
        cmprop = _split(p.get('prop', 'ids|title'))
        items = []
        for member in members:
            item: dict[str, Any] = {}
            if 'ids' in cmprop:
                item['pageid'] = member.pageid
            item['ns'] = self.ns_of(member.title)
            if 'title' in cmprop:
                item['title'] = member.title
            if 'sortkeyprefix' in cmprop:
                item['sortkeyprefix'] = ''
            if 'sortkey' in cmprop:
                item['sortkey'] = member.title.encode('utf-8').hex()
            if 'type' in cmprop:
                item['type'] = kind.get(self.ns_of(member.title), 'page')
            if 'timestamp' in cmprop:
                item['timestamp'] = member.revisions[-1].timestamp
            items.append(item)
        return items

    def _target_page(self, p: dict[str, str], module: str) -> str:
        if p.get('pageid'):
            page = next((x for x in self.wiki.pages.values()
                         if str(x.pageid) == p['pageid']), None)
            if page is None:
                raise ApiFailure('nosuchpageid', f'There is no page with ID {p["pageid"]}.')
            return page.title
        prefix = self._prefix(module)
        if 'title' not in p:
            raise ApiFailure('invalidparammix', f'One of the parameters "{prefix}title" and '
                             f'"{prefix}pageid" is required.')
        title = self._target(p['title'])
        if title is None:
            raise ApiFailure('invalidtitle', f'Bad title "{p["title"]}".')
        return title

    def _list_backlinks(self, p: dict[str, str], caller: Caller, fv2: bool,
                        query: dict[str, Any]) -> list[dict[str, Any]]:
        title = self._target_page(p, 'backlinks')
        pages = self._filter_ns(self._pages_linking_to(title), p.get('namespace', ''))
        pages = self._filter_redirects(pages, p.get('filterredir', 'all'))
        items = []
        for page in pages:
            item = self._item(page)
            if self.redirect_target(page) == title:
                item['redirect'] = _flag(fv2)
            items.append(item)
        return items

    def _list_embeddedin(self, p: dict[str, str], caller: Caller, fv2: bool,
                         query: dict[str, Any]) -> list[dict[str, Any]]:
        title = self._target_page(p, 'embeddedin')
        pages = self._filter_ns(self._pages_embedding(title), p.get('namespace', ''))
        pages = self._filter_redirects(pages, p.get('filterredir', 'all'))
        return [self._item(page) for page in pages]

    def _list_search(self, p: dict[str, str], caller: Caller, fv2: bool,
                     query: dict[str, Any]) -> list[dict[str, Any]]:
        if not p.get('search'):
            raise ApiFailure('missingparam', 'The "srsearch" parameter must be set.')
        words = p['search'].lower().split()
        where = p.get('what') or 'text'
        pages = self._filter_ns(self._pages(), p.get('namespace', ''), default='0')
        hits = []
        for page in pages:
            haystack = page.title.lower()
            if where == 'text':
                haystack += '\n' + page.text.lower()
            if where == 'nearmatch':
                if page.title.lower() == p['search'].lower():
                    hits.append(page)
            elif all(word in haystack for word in words):
                hits.append(page)
        query.setdefault('searchinfo', {})['totalhits'] = len(hits)
        items = []
        for page in hits:
            item = self._item(page)
            item.update({'size': len(page.text.encode('utf-8')),
                         'wordcount': len(page.text.split()),
                         'snippet': page.text[:100], 'timestamp': page.revisions[-1].timestamp})
            items.append(item)
        return items

    def _list_prefixsearch(self, p: dict[str, str], caller: Caller, fv2: bool,
                           query: dict[str, Any]) -> list[dict[str, Any]]:
        prefix = (self._target(p.get('search', '')) or '').lower()
        pages = self._filter_ns(self._pages(), p.get('namespace', ''), default='0')
        return [self._item(page) for page in pages if page.title.lower().startswith(prefix)]

    def _list_logevents(self, p: dict[str, str], caller: Caller, fv2: bool,
                        query: dict[str, Any]) -> list[dict[str, Any]]:
        entries = list(reversed(self.wiki.log))
        if p.get('dir') == 'newer':
            entries.reverse()
        if p.get('type'):
            entries = [e for e in entries if e.type == p['type']]
        if p.get('action'):
            log_type, _, action = p['action'].partition('/')
            entries = [e for e in entries if e.type == log_type and e.action == action]
        if p.get('user'):
            entries = [e for e in entries if e.user == p['user'].replace('_', ' ')]
        if p.get('title'):
            title = self._target(p['title'])
            entries = [e for e in entries if e.title == title]
        items = []
        for e in entries:
            params = {key: value for key, value in e.params.items()
                      if value is not False} if not fv2 else dict(e.params)
            if 'target_title' in params:
                params['target_ns'] = self.ns_of(str(params['target_title']))
            if not fv2 and params.get('suppressredirect') is True:
                params['suppressredirect'] = ''
            items.append({'logid': e.logid, 'ns': self.ns_of(e.title), 'title': e.title,
                          'pageid': e.pageid, 'logpage': e.pageid, 'params': params,
                          'type': e.type, 'action': e.action, 'user': e.user,
                          'timestamp': e.timestamp, 'comment': e.comment})
        return items

    def _list_recentchanges(self, p: dict[str, str], caller: Caller, fv2: bool,
                            query: dict[str, Any]) -> list[dict[str, Any]]:
        changes = list(reversed(self.wiki.recent_changes))
        if p.get('dir') == 'newer':
            changes.reverse()
        if p.get('type'):
            changes = [c for c in changes if c.type in _split(p['type'])]
        if p.get('user'):
            changes = [c for c in changes if c.user == p['user'].replace('_', ' ')]
        namespaces = _split(p.get('namespace', ''))
        if namespaces and '*' not in namespaces:
            changes = [c for c in changes if str(self.ns_of(c.title)) in namespaces]
        show = _split(p.get('show', ''))
        if 'bot' in show:
            changes = [c for c in changes if c.bot]
        if '!bot' in show:
            changes = [c for c in changes if not c.bot]
        items = []
        for c in changes:
            item: dict[str, Any] = {'type': c.type, 'ns': self.ns_of(c.title), 'title': c.title,
                                    'pageid': c.pageid, 'revid': c.revid,
                                    'old_revid': c.old_revid, 'rcid': c.rcid, 'user': c.user,
                                    'timestamp': c.timestamp, 'comment': c.comment}
            for name, value in (('bot', c.bot), ('minor', c.minor), ('new', c.type == 'new')):
                if value:
                    item[name] = _flag(fv2)
                elif fv2:
                    item[name] = False
            if c.logid:
                item['logid'] = c.logid
            items.append(item)
        return items

    def _user_item(self, name: str, props: list[str], fv2: bool) -> dict[str, Any]:
        user = self.wiki.users.get(name)
        if user is None:
            return {'name': name, 'missing': _flag(fv2)}
        item: dict[str, Any] = {'userid': user.id, 'name': user.name}
        if 'groups' in props:
            item['groups'] = list(user.groups)
        if 'rights' in props:
            item['rights'] = list(user.rights)
        if 'editcount' in props:
            item['editcount'] = user.editcount
        if 'registration' in props:
            registered = user.registered
            item['registration'] = (f'{registered[:4]}-{registered[4:6]}-{registered[6:8]}T'
                                    f'{registered[8:10]}:{registered[10:12]}:'
                                    f'{registered[12:14]}Z')
        return item

    def _list_users(self, p: dict[str, str], caller: Caller, fv2: bool,
                    query: dict[str, Any]) -> list[dict[str, Any]]:
        props = _split(p.get('prop', ''))
        return [self._user_item(name.replace('_', ' '), props, fv2)
                for name in _split(p.get('users', ''))]

    def _list_allusers(self, p: dict[str, str], caller: Caller, fv2: bool,
                       query: dict[str, Any]) -> list[dict[str, Any]]:
        props = _split(p.get('prop', ''))
        names = sorted(self.wiki.users)
        if p.get('from'):
            names = [n for n in names if n >= p['from'].replace('_', ' ')]
        if p.get('prefix'):
            names = [n for n in names if n.startswith(p['prefix'].replace('_', ' '))]
        if p.get('group'):
            wanted = set(_split(p['group']))
            names = [n for n in names if wanted & set(self.wiki.users[n].groups)]
        return [self._user_item(n, props, fv2) for n in names]

    def _list_usercontribs(self, p: dict[str, str], caller: Caller, fv2: bool,
                           query: dict[str, Any]) -> list[dict[str, Any]]:
        users = {u.replace('_', ' ') for u in _split(p.get('user', ''))}
        rows = []
        for page in self.wiki.pages.values():
            for index, rev in enumerate(page.revisions):
                if rev.user in users:
                    user = self.wiki.users.get(rev.user)
                    rows.append({'userid': user.id if user else 0, 'user': rev.user,
                                 'pageid': page.pageid, 'revid': rev.revid,
                                 'parentid': page.revisions[index - 1].revid if index else 0,
                                 'ns': self.ns_of(page.title), 'title': page.title,
                                 'timestamp': rev.timestamp, 'comment': rev.comment,
                                 'size': len(rev.text.encode('utf-8'))})
        rows.sort(key=lambda row: row['revid'], reverse=p.get('dir') != 'newer')
        return rows

    @staticmethod
    def allmessages(params: dict[str, str], fv2: bool) -> list[dict[str, Any]]:
        """meta=allmessages for the names in ``ammessages`` (English)."""
        names = _split(params.get('ammessages', '')) or sorted(MESSAGES)
        result = []
        for name in names:
            if name in MESSAGES:
                text = MESSAGES[name]   # raw, as MediaWiki gives it (no parser)
                result.append({'name': name, 'normalizedname': name,
                               'content' if fv2 else '*': text})
            else:
                result.append({'name': name, 'normalizedname': name, 'missing': _flag(fv2)})
        return result

    # -- write actions ---------------------------------------------------------
    def edit(self, params: dict[str, str], caller: Caller, fv2: bool) -> dict[str, Any]:
        """action=edit: create, replace, append, prepend or add a section."""
        if 'title' not in params and 'pageid' not in params:
            raise ApiFailure('missingparam', 'The "title" parameter must be set.')
        if caller.user is not None and 'edit' not in caller.rights:
            raise ApiFailure('permissiondenied', 'The action you have requested is limited '
                             'to users in the group: Users.')
        title = (self._title_for_pageid(params['pageid']) if 'pageid' in params
                 else self._target(params['title']))
        if title is None:
            raise ApiFailure('invalidtitle', f'Bad title "{params.get("title")}".')
        author = caller.user.name if caller.user else '127.0.0.1'
        with self.wiki.lock:
            existing = self.wiki.pages.get(title)
            old = existing.revisions[-1] if existing and existing.revisions else None
            self._refuse_edit(title, existing, old, params, caller, author)
            text = self._new_text(params, old.text if old else '')
            if params.get('md5') and hashlib.md5(
                    params.get('text', '').encode('utf-8')).hexdigest() != params['md5']:
                raise ApiFailure('badmd5', 'The supplied MD5 hash was incorrect.')
            bot = 'bot' in params and 'bot' in caller.rights
            minor = 'minor' in params and 'minoredit' in caller.rights and old is not None
            page, rev = self.wiki.save_page(title, text, author, params.get('summary', ''),
                                            bot=bot, minor=minor)
            if rev is not None and caller.user is not None:
                caller.user.editcount += 1
        result: dict[str, Any] = {'result': 'Success', 'pageid': page.pageid,
                                  'title': page.title, 'contentmodel': 'wikitext'}
        if rev is None:
            result['nochange'] = _flag(fv2)
        else:
            if old is None:
                result['new'] = _flag(fv2)
            result.update({'oldrevid': old.revid if old else 0, 'newrevid': rev.revid,
                           'newtimestamp': rev.timestamp})
        return result

    def _refuse_edit(self, title: str, existing: WikiPage | None, old: Revision | None,
                     params: dict[str, str], caller: Caller, author: str) -> None:
        """MediaWiki's refusals of an edit, in its order (raises ApiFailure)."""
        if old is None and 'nocreate' in params:
            raise ApiFailure('missingtitle', "The page you specified doesn't exist.")
        if old is None and 'createonly' not in params and not existing and \
                params.get('starttimestamp') and 'recreate' not in params and \
                self._deleted_since(title, params['starttimestamp']):
            raise ApiFailure('pagedeleted', 'The page has been deleted since you fetched '
                             'its timestamp.')
        if old is not None and 'createonly' in params:
            raise ApiFailure('articleexists', 'The article you tried to create has been '
                             'created already.')
        if old is None and 'createpage' not in (caller.rights if caller.user else
                                                 ['createpage']):
            raise ApiFailure('permissiondenied', 'The action you have requested is '
                             'limited to users in the group: Users.')
        if existing is not None and self._conflicts(existing, params, author):
            raise ApiFailure('editconflict', 'Edit conflict.')

    def _title_for_pageid(self, pageid: str) -> str:
        for page in self.wiki.pages.values():
            if str(page.pageid) == pageid:
                return page.title
        raise ApiFailure('nosuchpageid', f'There is no page with ID {pageid}.')

    def _deleted_since(self, title: str, start: str) -> bool:
        return any(e.type == 'delete' and e.title == title and e.timestamp >= start
                   for e in self.wiki.log)

    @staticmethod
    def _conflicts(page: WikiPage, params: dict[str, str], author: str) -> bool:
        """MediaWiki's rule: someone else saved after the revision the edit started from."""
        base = params.get('basetimestamp')
        baserevid = params.get('baserevid')
        if not base and not baserevid:
            return False
        later = [r for r in page.revisions
                 if (baserevid and r.revid > int(baserevid))
                 or (not baserevid and r.timestamp > base)]
        return any(r.user != author for r in later)

    @staticmethod
    def _new_text(params: dict[str, str], old_text: str) -> str:
        section = params.get('section')
        if section == 'new':
            heading = params.get('sectiontitle') or params.get('summary', '')
            added = f'== {heading} ==\n\n{params.get("text", "")}' if heading \
                else params.get('text', '')
            return f'{old_text}\n\n{added}' if old_text else added
        if 'text' in params:
            return params['text']
        return params.get('prependtext', '') + old_text + params.get('appendtext', '')

    def purge(self, params: dict[str, str], caller: Caller, fv2: bool,
              query: dict[str, Any]) -> list[dict[str, Any]]:
        """action=purge: every page of the page set, purged (touched) or missing."""
        titles, _ = self._page_set(params, caller, fv2, query, {})
        results = []
        for title in titles or []:
            if title.startswith(('\x00', '\x01')):
                results.append({'title': title[1:], 'invalid': _flag(fv2)})
                continue
            page = self.wiki.pages.get(title)
            entry: dict[str, Any] = {'ns': self.ns_of(title), 'title': title}
            if page is None:
                entry['missing'] = _flag(fv2)
            else:
                page.touched = self.wiki.timestamp()
                entry['purged'] = _flag(fv2)
                if 'forcelinkupdate' in params or 'forcerecursivelinkupdate' in params:
                    entry['linkupdate'] = _flag(fv2)
            results.append(entry)
        return results

    def move(self, params: dict[str, str], caller: Caller, fv2: bool) -> dict[str, Any]:
        """action=move: rename a page (and its talk page), leaving a redirect by default."""
        if caller.user is None or 'move' not in caller.rights:
            raise ApiFailure('permissiondenied', 'The action you have requested is limited '
                             'to users in the group: Users.')
        source = (self._title_for_pageid(params['fromid']) if params.get('fromid')
                  else self._target(params.get('from', '')))
        target = self._target(params.get('to', ''))
        if source is None or target is None:
            raise ApiFailure('invalidtitle', f'Bad title "{params.get("to", "")}".')
        if source == target:
            raise ApiFailure('selfmove', 'The title is the same; cannot move a page over '
                             'itself.')
        author = caller.user.name
        leave_redirect = not ('noredirect' in params
                              and 'suppressredirect' in caller.rights)
        result: dict[str, Any] = {'from': source, 'to': target,
                                  'reason': params.get('reason', '')}
        with self.wiki.lock:
            if source not in self.wiki.pages:
                raise ApiFailure('missingtitle', "The page you specified doesn't exist.")
            if target in self.wiki.pages:
                raise ApiFailure('articleexists', 'A page of that name already exists, or '
                                 'the name you have chosen is not valid. Please choose '
                                 'another name.')
            self.wiki.move_page(source, target, author, params.get('reason', ''),
                                leave_redirect=leave_redirect)
            if leave_redirect:
                result['redirectcreated'] = _flag(fv2)
            elif fv2:
                result['redirectcreated'] = False
            if fv2:
                result['moveoverredirect'] = False
            talk_from, talk_to = self._talk(source), self._talk(target)
            if 'movetalk' in params and talk_from in self.wiki.pages and talk_to \
                    and talk_to not in self.wiki.pages:
                self.wiki.move_page(talk_from, talk_to, author, params.get('reason', ''),
                                    leave_redirect=leave_redirect)
                result.update({'talkfrom': talk_from, 'talkto': talk_to})
        return result

    def _talk(self, title: str) -> str | None:
        ns = self.ns_of(title)
        if ns < 0 or ns % 2:
            return None
        name = self.namespace_name(ns)
        bare = title[len(name) + 1:] if name else title
        return f'{self.namespace_name(ns + 1)}:{bare}'

    def delete(self, params: dict[str, str], caller: Caller, fv2: bool) -> dict[str, Any]:
        """action=delete: needs the delete right (the sysop group)."""
        if caller.user is None or 'delete' not in caller.rights:
            raise ApiFailure('permissiondenied', 'The action you have requested is limited '
                             'to users in the group: [[Project:Administrators|'
                             'Administrators]].')
        title = (self._title_for_pageid(params['pageid']) if params.get('pageid')
                 else self._target(params.get('title', '')))
        if title is None:
            raise ApiFailure('invalidtitle', f'Bad title "{params.get("title", "")}".')
        with self.wiki.lock:
            if title not in self.wiki.pages:
                raise ApiFailure('missingtitle', "The page you specified doesn't exist.")
            entry = self.wiki.delete_page(title, caller.user.name, params.get('reason', ''))
        return {'title': title, 'reason': params.get('reason', ''), 'logid': entry.logid}


def _category_counts(members: list[WikiPage], api: PagesApi) -> dict[str, int]:
    subcats = sum(1 for m in members if api.ns_of(m.title) == 14)
    files = sum(1 for m in members if api.ns_of(m.title) == 6)
    return {'size': len(members), 'pages': len(members) - subcats - files, 'files': files,
            'subcats': subcats}


def _split(value: str) -> list[str]:
    return [part for part in value.split('|') if part] if value else []


def _prefixed(params: dict[str, str], prefix: str) -> dict[str, str]:
    """The parameters of one module, without its prefix ('gapfrom' -> 'from')."""
    return {key[len(prefix):]: value for key, value in params.items()
            if key.startswith(prefix) and len(key) > len(prefix)}


def _limit(value: str | None, caller: Caller) -> int:
    high = 'apihighlimits' in caller.rights
    if value in (None, ''):
        return DEFAULT_LIMIT
    if value == 'max':
        return HIGH_MAX_LIMIT if high else MAX_LIMIT
    try:
        return max(1, min(int(value), HIGH_MAX_LIMIT if high else MAX_LIMIT))
    except ValueError:
        raise ApiFailure('badinteger', f'Invalid value "{value}" for integer parameter '
                         '"limit".') from None


def _selected_revisions(page: WikiPage, rv: dict[str, str]) -> list[Revision]:
    """The revisions rvdir, rvstartid, rvendid and rvlimit pick, in their order."""
    revisions = list(reversed(page.revisions))   # newest first, as rvdir=older
    if rv.get('dir') == 'newer':
        revisions.reverse()
    if rv.get('startid'):
        revisions = [r for r in revisions if (r.revid <= int(rv['startid'])
                     if rv.get('dir') != 'newer' else r.revid >= int(rv['startid']))]
    if rv.get('endid'):
        revisions = [r for r in revisions if (r.revid >= int(rv['endid'])
                     if rv.get('dir') != 'newer' else r.revid <= int(rv['endid']))]
    limit = rv.get('limit')
    revisions = revisions[:(MAX_LIMIT if limit == 'max' else int(limit))] if limit \
        else revisions[:1]
    return revisions
