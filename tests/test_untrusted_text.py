"""Text from a wiki or a redirect is escaped where printed; the loopback receiver takes
only its own redirect (issue 20, items 3 and 9).

``pwb-oauth authorize`` runs for real in a subprocess against the local test wiki; this
process plays the browser and whoever else can send a GET to the loopback callback.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from test_authorize import USER, _assert_oauth2_token_works, reserved_port, start_oauth2_authorize

from pwb_oauth_ext.errors import OAuthFlowError, TokenEndpointError
from pwb_oauth_ext.network.text import printable
from pwb_oauth_ext.protocol.mediawiki import special_oauth_error
from pwb_oauth_ext.protocol.oauth2 import _token_endpoint_error, parse_redirect
from pwb_oauth_ext.testwiki.browser import consent
from pwb_oauth_ext.testwiki.server import RunningWiki, run_test_wiki

#: Retitles the window, erases the line, returns the cursor, then writes a fake success.
FORGED = ('\x1b]0;pwned\x07\x1b[2K\rAuthorized as BotUser; token stored in /tmp/x\n'
          '\x9b2K\u202e')


@pytest.fixture
def wiki() -> Iterator[RunningWiki]:
    with run_test_wiki() as running:
        running.app.add_bot(USER, groups=[])
        yield running


def _get(url: str) -> requests.Response:
    return requests.get(url, timeout=30, proxies={'http': None})


def test_printable_escapes_controls_and_keeps_unicode() -> None:
    assert printable(FORGED) == ('\\x1b]0;pwned\\x07\\x1b[2K\\x0dAuthorized as BotUser;'
                                 ' token stored in /tmp/x\\x0a\\x9b2K\\u202e')
    assert printable('Bot Üser 機器人 🤖 é') == 'Bot Üser 機器人 🤖 é'
    assert printable(printable(FORGED)) == printable(FORGED)   # idempotent


def test_a_forged_error_redirect_is_shown_escaped_and_no_fake_success(
        tmp_path: Path, wiki: RunningWiki) -> None:
    redirect_uri = f'http://127.0.0.1:{reserved_port()}/callback'
    _client, pwb_dir, command, _url = start_oauth2_authorize(tmp_path, wiki, redirect_uri)
    command.expect('Waiting for the wiki')
    page = _get(f'{redirect_uri}?error=x&error_description={quote(FORGED)}')
    assert page.status_code == 200 and '\x1b' not in page.text
    status, output = command.finish()
    output += command.stderr()
    assert status == 1
    assert not any(character in output for character in '\x1b\x07\r\x9b\u202e')
    assert '(x: \\x1b]0;pwned\\x07\\x1b[2K\\x0dAuthorized as BotUser;' in output
    lines = output.splitlines()    # as a terminal shows them: CR, LF, NEL... start a line
    assert not [line for line in lines if line.startswith('Authorized as')], lines
    assert not (pwb_dir / 'pwb-oauth-tokens.json').exists()


def test_stray_requests_to_the_callback_are_ignored_until_the_real_redirect(
        tmp_path: Path, wiki: RunningWiki) -> None:
    """Any local user, or a web page through an <img>, can GET the callback first."""
    redirect_uri = f'http://127.0.0.1:{reserved_port()}/callback'
    client, pwb_dir, command, url = start_oauth2_authorize(tmp_path, wiki, redirect_uri)
    command.expect('Waiting for the wiki')
    for stray in ('?state=%C3%A9t%C3%A9&code=forged',   # non-ASCII state: no TypeError
                  '',                                     # nothing at all
                  '?code=forged',                         # a code without state
                  '?state=forged&code=forged'):           # another state
        page = _get(redirect_uri + stray)
        assert page.status_code == 400, stray
        assert 'ignored' in page.text
        assert command.proc.poll() is None, 'the command stopped at a stray request'
    redirect = consent(wiki, USER, url)
    assert 'Authorization received' in _get(redirect).text
    status, output = command.finish()
    assert status == 0, output + command.stderr()
    assert 'Traceback' not in output + command.stderr()
    _assert_oauth2_token_works(pwb_dir, wiki, client, output)
    assert wiki.app.oauth2.token_requests['authorization_code'] == 1


def test_a_non_ascii_state_is_a_mismatch_not_a_type_error() -> None:
    with pytest.raises(OAuthFlowError, match='state mismatch'):
        parse_redirect('http://127.0.0.1:8765/cb?state=%C3%A9&code=c', 'expected-state')
    with pytest.raises(OAuthFlowError, match='state mismatch'):
        parse_redirect('http://127.0.0.1:8765/cb?state=s&code=c', 'état')


def test_wiki_error_texts_are_escaped_in_our_errors() -> None:
    error = _token_endpoint_error(400, {'error': 'invalid_request\x1b[2K',
                                        'error_description': 'bad\rAuthorized as X',
                                        'hint': 'revoked\x9b'})
    assert isinstance(error, TokenEndpointError)
    assert '\x1b' not in str(error) and '\r' not in str(error) and '\x9b' not in str(error)
    assert 'bad\\x0dAuthorized as X' in str(error)
    special = special_oauth_error('{"error": "e\\u001b]0;t", "message": "m\\r\\nFake"}',
                                  'the request token')
    assert special is not None and '\x1b' not in str(special) and '\n' not in str(special)
