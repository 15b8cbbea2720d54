"""Grant types: one class per way of getting a token; consumers dispatch on them.

Also the one file-mode rule (config.file_modes) and the MediaWiki quirks module
read against the recorded answers of a real wiki.
"""
from __future__ import annotations

import json
import os
import stat

import pytest
from conftest import recorded

from pwb_oauth_ext.config.credentials import OAuth1, OAuth2, credential_from_config
from pwb_oauth_ext.config.file_modes import OTHERS_READ, others_may_access
from pwb_oauth_ext.config.grant_types import (
    OAUTH2_GRANT_TYPES,
    AuthorizationCode,
    ClientCredentials,
    GrantType,
    HttpBasic,
    OAuth1StoredToken,
    OAuth1Token,
    OAuth2GrantType,
    OwnerOnlyToken,
)
from pwb_oauth_ext.protocol import grants, mediawiki


def _api_error(name: str) -> dict:
    """The API error of a recording (the last exchange of a multi-exchange one)."""
    data = recorded(name)
    response = data['exchanges'][-1]['response'] if 'exchanges' in data else data['response']
    return response['body']['error']


def _all_grant_types() -> list[type[GrantType]]:
    found, todo = [], [GrantType]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.name:   # abstract bases have no name
                found.append(sub)
    return found


@pytest.mark.parametrize(('value', 'expected'), [
    (('ck', 'cs', 'at', 'as'), OAuth1Token),
    (OAuth1('ck', 'cs'), OAuth1StoredToken),
    (OAuth2(access_token='tok'), OwnerOnlyToken),
    (OAuth2(client_id='cid', client_secret='s', grant='client_credentials'), ClientCredentials),
    (OAuth2(client_id='cid'), AuthorizationCode),
    (('user', 'password'), HttpBasic),
])
def test_every_config_form_has_its_grant_type(value: object, expected: type) -> None:
    assert type(credential_from_config('k', value).grant_type) is expected


def test_grant_strings_name_the_classes() -> None:
    """``OAuth2(grant=...)`` takes exactly the OAuth 2.0 grant types, by their names."""
    oauth2 = {cls for cls in _all_grant_types() if issubclass(cls, OAuth2GrantType)}
    assert {type(grant_type) for grant_type in OAUTH2_GRANT_TYPES.values()} == oauth2
    assert all(grant_type.name == name for name, grant_type in OAUTH2_GRANT_TYPES.items())
    assert OAuth2(client_id='c', client_secret='s', grant='client_credentials').grant \
        == 'client_credentials'


def test_every_grant_type_can_make_an_auth_object() -> None:
    """A new grant type without an auth maker fails here, not at a bot's first request."""
    assert set(_all_grant_types()) == set(grants._AUTH_MAKERS)


def test_only_grants_kept_in_the_store_name_a_client() -> None:
    stored = OAuth1('consumer', 'cs')
    assert OAuth1StoredToken().stored_grant_client(stored, 'k') == 'consumer'
    assert OAuth1Token().stored_grant_client(OAuth1('c', 'cs', 'at', 'as'), 'k') is None
    assert OwnerOnlyToken().stored_grant_client(OAuth2(access_token='t'), 'k') is None
    code = OAuth2(client_id='cid')
    assert code.grant_type.stored_grant_client(code, 'k') == 'cid'


def test_secret_fields_leave_public_parts_out() -> None:
    cred = OAuth1('consumer-key', 'c-secret', 'a-token', 'a-secret')
    assert cred.grant_type.secrets_of(cred) == ['c-secret', 'a-secret']


@pytest.mark.parametrize(('mode', 'any_access', 'read'), [
    (0o600, False, False), (0o640, True, True), (0o604, True, True),
    (0o620, True, False), (0o700, False, False), (0o611, True, False),
])
@pytest.mark.skipif(os.name != 'posix', reason='POSIX file modes')
def test_one_file_mode_rule(mode: int, any_access: bool, read: bool) -> None:
    assert others_may_access(stat.S_IFREG | mode) is any_access
    assert others_may_access(stat.S_IFREG | mode, OTHERS_READ) is read


@pytest.mark.parametrize('name', [
    'api-oauth1-error-bad-signature.json', 'api-oauth1-error-nonce-reused.json',
    'api-oauth1-error-timestamp-expired.json', 'api-oauth1-error-unknown-access-token.json',
    'api-oauth1-error-unknown-consumer-key.json', 'api-oauth2-bearer-error-not-a-jwt.json',
    'api-oauth2-bearer-error-tampered-token.json',
])
def test_recorded_refusals_are_read(name: str) -> None:
    """Every recorded refusal is one, and has a likely cause the operator is told."""
    error = _api_error(name)
    assert mediawiki.is_authorization_refusal(error['code'])
    assert mediawiki.likely_causes(error['info'])


def test_recorded_clock_skew_and_nonce() -> None:
    skewed = _api_error('api-oauth1-error-timestamp-expired.json')
    ours, theirs = mediawiki.clock_skew(skewed['info'])
    assert theirs - ours == 3600   # the capture signed one hour in the past
    replayed = _api_error('api-oauth1-error-nonce-reused.json')
    assert mediawiki.is_nonce_reused(replayed['info'])
    assert mediawiki.clock_skew(replayed['info']) is None
    assert not mediawiki.is_nonce_reused(skewed['info'])


def test_recorded_token_error_details() -> None:
    answer = recorded('oauth2-token-error-pkce-missing-verifier.json')['response']
    details = mediawiki.token_error_details(json.dumps(answer['body']))
    assert details is not None and details['error'] == answer['body']['error']
    assert mediawiki.token_error_details('<html>') is None
