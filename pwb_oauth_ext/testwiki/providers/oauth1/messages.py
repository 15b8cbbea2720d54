"""Special:OAuth's own refusals: a message key and MediaWiki's text, help links included."""
from __future__ import annotations

import html
import re


def _error_link(code: str) -> str:
    return (f'<a class="external" href="https://www.mediawiki.org/wiki/Help:OAuth/Errors#{code}">'
            f'{code}</a>')


def details(text: str, code: str) -> str:
    """MediaWiki's "<text>, <E-code help link>" tail of a refusal."""
    return f'<span class="plainlinks mw-mwoautherror-details">{text}, {_error_link(code)}</span>'


#: MediaWiki's E004 lead: a request token this wiki's session cache does not hold (say,
#: another farm wiki's); ``details(TOKEN_NOT_FOUND_DETAIL, 'E004')`` follows it.
TOKEN_NOT_FOUND = ('Sorry, something went wrong connecting this application.\n'
                   'Go back and try to connect your account again, or contact the application'
                   ' author.\n\n')
TOKEN_NOT_FOUND_DETAIL = 'OAuth token not found'


class HandshakeError(Exception):
    """A Special:OAuth error: message key plus MediaWiki's text (may hold error links)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(key)
        self.key = key
        self.message = message

    def as_text(self) -> str:
        """'Error: <escaped message>' with the help links left as HTML, as recorded."""
        parts = re.split(r'(<a class="external" [^>]*>[^<]*</a>)', self.message)
        escaped = ''.join(p if p.startswith('<a class="external"') else html.escape(p)
                          for p in parts)
        return 'Error: ' + escaped

