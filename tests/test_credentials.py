"""Reading ``authenticate`` values: what a user sees for good and bad entries.

Every refusal names the config key and says what is wrong; no message and no
``repr()`` ever contains a secret that was passed in.
"""
from __future__ import annotations

from typing import Any

import pytest

from pwb_oauth_ext import env, file
from pwb_oauth_ext.config.credentials import (
    BasicAuth,
    OAuth1,
    OAuth2,
    credential_from_config,
)
from pwb_oauth_ext.config.references import resolve_secret
from pwb_oauth_ext.errors import ConfigError

KEY = 'bots.example.org:8080'
# Distinctive values: none is a substring of any word a message could legitimately hold.
CK = 'ckVALUEa1b2c3d4e5f6'
CS = 'csVALUEq9w8e7r6t5y4'
AT = 'atVALUEz1x2c3v4b5n6'
AS = 'asVALUEm9n8b7v6c5x4'
PASSWORD = 'pwVALUEh4j5k6l7'
SECRETS = (CS, AT, AS, PASSWORD, 'otherSECRETu8i9o0')


def refusal(value: Any, key: object = KEY) -> str:
    """The message of the ConfigError for ``authenticate[key] = value``."""
    with pytest.raises(ConfigError) as caught:
        credential_from_config(key, value)
    return str(caught.value)


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text
        assert secret.strip() not in text


# --- accepted forms ---------------------------------------------------------------------

def test_four_tuple_is_oauth1_with_its_four_values():
    cred = credential_from_config(KEY, (CK, CS, AT, AS))
    assert isinstance(cred, OAuth1)
    assert (cred.consumer_key, cred.consumer_secret, cred.access_token, cred.access_secret) \
        == (CK, CS, AT, AS)
    assert cred.has_access_token and cred.is_oauth


def test_four_item_list_is_oauth1_too():
    assert isinstance(credential_from_config(KEY, [CK, CS, AT, AS]), OAuth1)


def test_two_tuple_is_http_basic_and_not_oauth():
    cred = credential_from_config(KEY, ('alice', PASSWORD))
    assert isinstance(cred, BasicAuth)
    assert (cred.username, cred.password) == ('alice', PASSWORD)
    assert not cred.is_oauth


@pytest.mark.parametrize('value', [
    OAuth1(CK, CS, AT, AS),
    OAuth2(access_token=AT),
    OAuth2(client_id='client123', client_secret=CS, grant='client_credentials'),
])
def test_credential_objects_are_taken_as_they_are(value):
    assert credential_from_config(KEY, value) is value


def test_oauth1_without_access_token_uses_the_store():
    cred = OAuth1(CK, CS)
    assert not cred.has_access_token


def test_secret_references_stand_for_secrets_and_resolve_at_use(monkeypatch):
    cred = credential_from_config(KEY, (CK, env('PWB_TEST_CS'), AT, env('PWB_TEST_AS')))
    monkeypatch.setenv('PWB_TEST_CS', CS)
    monkeypatch.setenv('PWB_TEST_AS', AS)
    assert resolve_secret(cred.consumer_secret, KEY) == CS
    assert resolve_secret(cred.access_secret, KEY) == AS


def test_missing_secret_reference_names_key_and_variable(monkeypatch):
    monkeypatch.delenv('PWB_TEST_UNSET', raising=False)
    cred = credential_from_config(KEY, (CK, env('PWB_TEST_UNSET'), AT, AS))
    with pytest.raises(ConfigError) as caught:
        resolve_secret(cred.consumer_secret, KEY)
    assert repr(KEY) in str(caught.value) and 'PWB_TEST_UNSET' in str(caught.value)
    assert_no_secret(str(caught.value))


@pytest.mark.parametrize(('grant_kwargs', 'grant'), [
    ({'access_token': AT}, 'owner_only'),
    ({'client_id': 'client123', 'client_secret': CS, 'grant': 'client_credentials'},
     'client_credentials'),
    ({'client_id': 'client123'}, 'authorization_code'),
    ({'client_id': 'client123', 'client_secret': CS}, 'authorization_code'),
])
def test_oauth2_grant_is_inferred_or_taken(grant_kwargs, grant):
    assert OAuth2(**grant_kwargs).grant == grant


# --- refused tuples ---------------------------------------------------------------------

@pytest.mark.parametrize('value', [
    (), (CK,), (CK, CS, AT), (CK, CS, AT, AS, 'otherSECRETu8i9o0'), (CK, CS, AT, AS, AS, AS),
])
def test_wrong_number_of_items_names_key_count_and_forms(value):
    message = refusal(value)
    assert f'authenticate[{KEY!r}]' in message
    assert f'has {len(value)} items' in message
    assert '4' in message and '2' in message and 'OAuth1' in message
    assert_no_secret(message)


@pytest.mark.parametrize('value', [CS, 42, None, {'secret': CS}, {CS, AS}])
def test_not_a_tuple_names_key_and_type(value):
    message = refusal(value)
    assert f'authenticate[{KEY!r}] is a {type(value).__name__}' in message
    assert_no_secret(message)


@pytest.mark.parametrize(('position', 'label'), [
    (0, 'item 1 (consumer key)'), (1, 'item 2 (consumer secret)'),
    (2, 'item 3 (access token)'), (3, 'item 4 (access secret)'),
])
@pytest.mark.parametrize(('bad', 'problem'), [
    (b'bytesSECRET', 'must be a string'),
    (12345, 'must be a string'),
    ('', 'is empty'),
    ('   ', 'is empty'),
    (f' {CS}', 'white space'),
    (f'{AS}\n', 'white space'),
])
def test_bad_item_of_four_tuple_names_key_item_and_problem(position, label, bad, problem):
    value = [CK, CS, AT, AS]
    value[position] = bad
    message = refusal(tuple(value))
    assert f'authenticate[{KEY!r}]' in message
    assert label in message
    assert problem in message
    assert_no_secret(message)
    assert 'bytesSECRET' not in message


@pytest.mark.parametrize(('value', 'problem'), [
    (('', PASSWORD), 'user name (item 1)'),
    ((None, PASSWORD), 'user name (item 1)'),
    (('alice', ''), 'is empty'),
    (('alice', 99), 'must be a string'),
    (('alice', f'{PASSWORD} '), 'white space'),
])
def test_bad_basic_auth_pair_names_key_and_item(value, problem):
    message = refusal(value)
    assert f'authenticate[{KEY!r}]' in message
    assert problem in message
    assert_no_secret(message)


@pytest.mark.parametrize('key', ['*', 'BotB@*.example.org', '127.0.0.1:8080'])
def test_every_key_form_is_named_as_written(key):
    message = refusal((CK, '', AT, AS), key=key)
    assert f'authenticate[{key!r}]' in message


# --- refused credential objects ---------------------------------------------------------

@pytest.mark.parametrize(('kwargs', 'problem'), [
    ({'consumer_key': CK, 'consumer_secret': ''}, 'consumer_secret is empty'),
    ({'consumer_key': '', 'consumer_secret': CS}, 'consumer_key is empty'),
    ({'consumer_key': CK, 'consumer_secret': 7}, 'consumer_secret must be a string'),
    ({'consumer_key': CK, 'consumer_secret': CS, 'access_token': AT},
     'give both access_token and access_secret'),
    ({'consumer_key': CK, 'consumer_secret': CS, 'access_secret': AS},
     'give both access_token and access_secret'),
    ({'consumer_key': CK, 'consumer_secret': CS, 'access_token': ' ', 'access_secret': AS},
     'access_token is empty'),
    ({'consumer_key': CK, 'consumer_secret': f'{CS}\t'}, 'white space'),
])
def test_bad_oauth1_object(kwargs, problem):
    with pytest.raises(ConfigError) as caught:
        OAuth1(**kwargs)
    message = str(caught.value)
    assert message.startswith('OAuth1(...)')
    assert problem in message
    assert_no_secret(message)


@pytest.mark.parametrize(('kwargs', 'problem'), [
    ({}, 'give access_token=...'),
    ({'access_token': ''}, 'access_token is empty'),
    ({'access_token': f' {AT}'}, 'white space'),
    ({'access_token': 5}, 'access_token must be a string'),
    ({'client_id': ''}, 'client_id must be a non-empty string'),
    ({'client_id': 3}, 'client_id must be a non-empty string'),
    ({'client_id': 'client123', 'client_secret': ''}, 'client_secret is empty'),
    ({'client_id': 'client123', 'grant': 'client_credentials'},
     'client_credentials grant needs client_id and client_secret'),
    ({'client_secret': CS, 'grant': 'client_credentials'},
     'client_credentials grant needs client_id and client_secret'),
    ({'grant': 'owner_only', 'client_id': 'client123', 'client_secret': CS},
     'owner-only client needs access_token'),
    ({'grant': 'authorization_code', 'access_token': AT},
     'authorization_code grant needs client_id'),
    ({'access_token': AT, 'grant': 'password'}, 'grant must be one of'),
])
def test_bad_oauth2_object(kwargs, problem):
    with pytest.raises(ConfigError) as caught:
        OAuth2(**kwargs)
    message = str(caught.value)
    assert message.startswith('OAuth2(...)')
    assert problem in message
    assert_no_secret(message)


def test_config_error_is_a_value_error():
    """So ``except ValueError`` in a bot's own config checks still catches it."""
    with pytest.raises(ValueError):
        credential_from_config(KEY, (CK, CS, AT))


# --- repr never shows a secret -----------------------------------------------------------

@pytest.mark.parametrize('cred', [
    OAuth1(CK, CS, AT, AS),
    OAuth1(CK, CS),
    credential_from_config(KEY, (CK, CS, AT, AS)),
    credential_from_config(KEY, ('alice', PASSWORD)),
    OAuth2(access_token=AT),
    OAuth2(client_id='client123', client_secret=CS, grant='client_credentials'),
    OAuth2(client_id='client123', client_secret=CS),
], ids=lambda cred: type(cred).__name__)
def test_repr_shows_no_secret(cred):
    text = repr(cred)
    assert_no_secret(text)
    assert type(cred).__name__ in text
    assert str(cred) == text or not any(secret in str(cred) for secret in SECRETS)


def test_repr_names_what_helps_find_the_entry(tmp_path):
    assert CK[:6] in repr(OAuth1(CK, CS, AT, AS))
    assert CK not in repr(OAuth1(CK, CS, AT, AS))
    assert "'client123'" in repr(OAuth2(client_id='client123', client_secret=CS))
    assert "'ckVALU...e5f6'" in repr(OAuth1(CK, CS, AT, AS))   # first 6 and last 4
    assert 'alice' in repr(BasicAuth('alice', PASSWORD))
    secret_file = tmp_path / 'secret'
    by_reference = OAuth1(CK, env('BOT_CS'), AT, file(secret_file))
    assert "env('BOT_CS')" in repr(by_reference)
    assert str(secret_file) in repr(by_reference)


def test_a_four_tuple_with_none_is_not_a_stored_token_request() -> None:
    """Only OAuth1(ck, cs) asks for the stored token; a tuple with holes is a config error."""
    with pytest.raises(ConfigError, match=r"authenticate\['w.example'\].*OAuth1\(consumer_key"):
        credential_from_config('w.example', ('ck', 'hidden-secret', None, None))


def test_a_tuple_error_names_items_without_rewriting_the_key() -> None:
    """The items are named by field, not by rewriting the message: the key stays as written."""
    key = 'access_token.consumer_key.example.org'
    with pytest.raises(ConfigError) as info:
        credential_from_config(key, (CK, '', AT, AS))
    assert str(info.value).startswith(f'authenticate[{key!r}] (OAuth 1.0a 4-tuple): item 2')
