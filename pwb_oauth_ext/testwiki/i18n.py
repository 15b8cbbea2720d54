"""The few api.php texts the test wiki gives in a wiki's content language.

``errorformat=plaintext`` words errors in ``uselang`` or else the wiki's content
language (farm-1.43's frwiki answers in French); the default errorformat is always
English. Only the texts recorded in French are here; others stay English.
"""
from __future__ import annotations

_ANNOUNCE = 'https://lists.wikimedia.org/postorius/lists/mediawiki-api-announce.lists.wikimedia.org/'

DOCREF = {
    'en': ('See {api} for API usage. Subscribe to the mediawiki-api-announce mailing list at'
           f' &lt;{_ANNOUNCE}&gt; for notice of API deprecations and breaking changes.'),
    'fr': ('Voir {api} concernant l\u2019utilisation de l\u2019API. Abonnez-vous \u00e0 la liste de'
           ' diffusion <var>mediawiki-api-announce</var> sur'
           f' &lt;{_ANNOUNCE}&gt; pour \u00eatre averti des obsolescences dans l\u2019API ou de'
           ' modifications en rupture.'),
}
WRONG_WIKI = {
    'en': 'The authorization headers in your request are not valid for {wiki}',
    'fr': 'Les ent\u00eates d\u2019autorisation dans votre requ\u00eate ne sont pas valides pour'
          ' {wiki}.',
}


def text(messages: dict[str, str], language: str, **values: str) -> str:
    """``messages`` in ``language``, English where it has no translation."""
    return messages.get(language, messages['en']).format(**values)
