"""A grant's key and a stored record's shape: the one place that knows them.

Every store validates what it reads and what it is asked to write here, so a
store never holds (and a bot never sends) what a read would refuse.
"""
from __future__ import annotations

import math
import re
from typing import Any, NamedTuple, Optional, Union

from pwb_oauth_ext.errors import GrantChoiceError, shown_id

#: RFC 6750 section 2.1 ``b64token``: the only characters a bearer token may have.
_B64TOKEN = re.compile(r'[A-Za-z0-9._~+/-]+=*\Z')


def is_b64token(value: object) -> bool:
    """True for a non-empty string of RFC 6750 token characters (no spaces, no CR/LF)."""
    return isinstance(value, str) and _B64TOKEN.match(value) is not None


class GrantKey(NamedTuple):
    """Where a grant is stored: the central wiki, the consumer/client, the account.

    ``account`` is None only for a grant whose owner the wiki has not named
    yet (a client-credentials token before its first use, or a record of the
    old format that lacked one); it is adopted once the wiki says who it is.
    """

    central_wiki: str
    client_id: str
    account: Optional[str]

    def describe(self) -> str:
        """'BotUser@meta.wikimedia.org, client abcdef...' (no secret: ids are public)."""
        who = self.account or 'account not yet known'
        return f'{who} on {self.central_wiki}, client {shown_id(self.client_id)}'


#: Older call sites pass the three parts instead of a GrantKey.
KeyArgs = Union[GrantKey, str]


def entry_name(item: dict, wiki_field: str) -> str:
    """An entry as error messages name it (wiki, client id shortened, account)."""
    account = item.get('account')
    return (f"{item.get(wiki_field)}, client {shown_id(str(item.get('client_id')))},"
            f" account {account if account is not None else 'unset'}")


def _is_text(value: object) -> bool:
    """A non-empty one-line string: what a stored secret or token must be."""
    return (isinstance(value, str) and bool(value)
            and not any(ord(ch) < 0x20 or 0x7f <= ord(ch) <= 0x9f for ch in value))


def _is_time(value: object) -> bool:
    return (value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)
                              and math.isfinite(value)))


def validate_record(record: object) -> str | None:
    """What is wrong with a token store record, or None when it is usable.

    The one place that knows a record's shape: an OAuth 1.0a access pair, or an
    OAuth 2.0 token set (RFC 6750 token characters, numeric times, a whole
    ``generation``; a record without ``protocol`` is one). Messages name the
    field, never its value.
    """
    if not isinstance(record, dict):
        return 'the record is not an object'
    protocol = record.get('protocol', 'oauth2')  # as TokenSet.from_record reads it
    if protocol == 'oauth1':
        for name in ('access_token', 'access_secret'):
            if not _is_text(record.get(name)):
                return f'{name} is missing or not a one-line string'
        identity = record.get('identity')
        if identity is not None and not isinstance(identity, str):
            return 'identity is not a string'
        return None
    if protocol == 'oauth2':
        if not is_b64token(record.get('access_token')):
            return 'access_token is missing or not a token (RFC 6750 characters)'
        refresh_token = record.get('refresh_token')
        if refresh_token is not None and not is_b64token(refresh_token):
            return 'refresh_token is not a token (RFC 6750 characters)'
        for name in ('expires_at', 'obtained_at'):
            if not _is_time(record.get(name)):
                return f'{name} is not a number'
        generation = record.get('generation')
        if generation is not None and (type(generation) is not int or generation < 0):
            return 'generation is not a whole number'
        token_type = record.get('token_type')
        if token_type is not None and (not isinstance(token_type, str)
                                       or token_type.lower() != 'bearer'):
            return 'token_type is not Bearer'
        return None
    return 'protocol is not "oauth1" or "oauth2"'


def freshness(record: dict | None) -> tuple[int, float]:
    """How new a record is: its refresh generation, then when it was obtained.

    Every refresh stores the generation it renewed plus one, so the newest
    pair wins even between hosts whose clocks disagree; records of releases
    without a generation count as 0 and fall back to ``obtained_at``.
    """
    if not record:
        return (-1, float('-inf'))
    generation = record.get('generation')
    obtained = record.get('obtained_at')
    return (generation if type(generation) is int else 0,
            float(obtained) if _is_time(obtained) and obtained is not None else float('-inf'))


def grant_key(key: KeyArgs, client_id: str | None = None,
              account: str | None = None) -> GrantKey:
    """A normalised GrantKey from a GrantKey or its three parts.

    Hosts are case-insensitive; client ids and account names are not.
    """
    if isinstance(key, GrantKey):
        central_wiki, client_id, account = key
    else:
        central_wiki = key
    if not central_wiki or not client_id:
        raise ValueError('central_wiki and client_id must be non-empty')
    return GrantKey(central_wiki.lower(), client_id, account)


def choose_grant(key: GrantKey, grants: list[tuple[GrantKey, dict]]
                 ) -> tuple[GrantKey, dict] | None:
    """The grant a site uses among ``grants`` of its consumer and central wiki.

    With an account: its grant, or an unnamed one (adopted once the wiki
    names its owner). Without: the single grant there is; several accounts
    raise GrantChoiceError listing them. Every store decides by this one rule.
    """
    if key.account is not None:
        for found in grants:
            if found[0].account == key.account:
                return found
        unnamed = [found for found in grants if found[0].account is None]
        return unnamed[0] if unnamed else None
    if len(grants) <= 1:
        return grants[0] if grants else None
    accounts = [found[0].account or '(not yet known)' for found in grants]
    raise GrantChoiceError(key.central_wiki, key.client_id, accounts)


def key_and_record(key: KeyArgs, args: tuple[Any, ...]) -> tuple[GrantKey, dict]:
    """``put(key, record)``'s arguments: a normalised key and a record a read would accept."""
    *parts, record = args
    if not isinstance(record, dict):
        raise TypeError('a token store record must be a dict')
    problem = validate_record(record)
    if problem is not None:  # never write what a read would refuse
        raise ValueError(f'not a valid token store record: {problem}')
    return grant_key(key, *parts), record
