"""What MediaWiki 1.43 answers differently from 1.39 (mw-1.43/README.md's table).

Kept in one place so the providers only call these helpers: rows 1-5 and 8-11 of the
table. Rights under OAuth (row 10) are ``model.RIGHTS_GONE_IN_1_43``.

The farm (farm-1.43/README.md) is ``farm.py``; what the test farm still does not
reproduce of it (http on 127.0.0.x, one cookie name, groups shared across wikis, siteinfo
beyond wikiid/lang/server/sitename, French only for the wrong-wiki text, BotPasswords'
note) and why no client depends on it: ``docs/explanation/test-farm.md``.
"""
from __future__ import annotations

import re
from typing import Any

from pwb_oauth_ext.testwiki.model import Wiki

#: Row 11: the approval form's hidden OOUI "ignore warnings" checkbox and 'display' input.
_IGNORE_WARNINGS = ("<input type='checkbox' tabindex='0' name='wpignorewarnings' value='1' "
                    "id='ooui-php-9' class='oo-ui-inputWidget-input' />")
_DISPLAY = '<input name="display" type="hidden">'
_EDIT_TOKEN = re.compile(r'<input id="wpEditToken"[^>]*>\n?')
#: Row 5: every rest.php answer varies on this header.
REST_VARY = ('Vary', 'x-restbase-compat')
GRANT_TYPES = ('authorization_code', 'refresh_token', 'client_credentials')


def approval_form(wiki: Wiki, form: str) -> str:
    """1.43's consent form: the two new inputs around wpEditToken, HTML5 void tags."""
    if not wiki.at_least('1.43'):
        return form
    found = _EDIT_TOKEN.search(form)
    if found is None:
        return form
    token = found.group(0).rstrip('\n')
    form = (form[:found.start()] + _IGNORE_WARNINGS + token + '\n' + _DISPLAY + '\n'
            + form[found.end():])
    return re.sub(r'(<input [^>]*?)"/>', r'\1">', form)


def with_email_verified(wiki: Wiki, claims: dict[str, Any]) -> dict[str, Any]:
    """Rows 8-9: identify and resource/profile gain email_verified after editcount."""
    if not wiki.at_least('1.43'):
        return claims
    result: dict[str, Any] = {}
    for key, value in claims.items():
        result[key] = value
        if key == 'editcount':
            result['email_verified'] = True
    return result


def resource_content_type(wiki: Wiki) -> str:
    """Row 2: resource/profile and resource/scopes are JSON with a JSON content type."""
    return 'application/json' if wiki.at_least('1.43') else 'text/html; charset=UTF-8'


def profile_without_token_crashes(wiki: Wiki) -> bool:
    """Row 1: 1.39 answers a missing Authorization header with a 500 (a REL1_39 bug)."""
    return not wiki.at_least('1.43')


def authorize_error_status(wiki: Wiki, *, unknown_client: bool) -> int:
    """Row 3: 1.43 sends the 'Application Connection Error' page for an unknown client_id
    with 401 (the only such page recorded on both versions; the others stay 200)."""
    return 401 if wiki.at_least('1.43') and unknown_client else 200


def grant_type_error(wiki: Wiki, form: dict[str, str]) -> str | None:
    """Row 4: 1.43 validates grant_type before the OAuth server; its error text, or None."""
    if not wiki.at_least('1.43'):
        return None
    grant_type = form.get('grant_type')
    if not grant_type:
        return 'Invalid request: Invalid request body: The "grant_type" parameter must be set.'
    if grant_type not in GRANT_TYPES:
        return ('Invalid request: Invalid request body: Unrecognized value for parameter '
                f'"grant_type": {grant_type}.')
    return None


def oauth1_login_warning(wiki: Wiki) -> str:
    """Special:OAuth/authorize without a login: the warning its login redirect names
    (1.43 as recorded on the farm, farm-1.43/README.md "Also seen")."""
    return ('mwoauth-named-account-required-reason' if wiki.at_least('1.43')
            else 'mwoauth-login-required-reason')
