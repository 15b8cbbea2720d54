"""What the plugin needs of Pywikibot's internals, checked before anything is patched.

``check()`` looks at every patch point of ``Integration.install`` (it exists, is
what the replacement wraps: callable or a class, with the parameters the
replacement passes on) and returns the first difference as one line naming the
Pywikibot version and the internal. The tested range is the compatibility
matrix's (tox.ini label ``compat``, docs/reference/versions.md): a version
outside it whose internals check out is enabled with one warning, unless the
operator accepted it (``enable(accept_pywikibot=...)`` or the environment
variable ``PWB_OAUTH_ACCEPT_PYWIKIBOT``).
"""
from __future__ import annotations

import inspect
import os
import sys
from typing import Any

#: The oldest and newest Pywikibot minor releases the compatibility matrix runs
#: (every minor in between, at its newest patch release).
TESTED_RANGE = ((10, 0), (11, 9))
#: The environment variable that accepts an untested Pywikibot version (comma-separated).
ACCEPT_ENV = 'PWB_OAUTH_ACCEPT_PYWIKIBOT'

_MISSING = object()
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_BY_NAME = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)

#: (module, dotted attribute, positional parameters the replacement passes on by position,
#: parameters it passes by name, whether it passes **kwargs on).
PATCH_POINTS: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...], bool], ...] = (
    ('pywikibot.comms.http', 'request', ('site',), ('uri', 'headers'), True),
    ('pywikibot.comms.http', 'fetch', ('uri',), (), True),
    ('pywikibot.comms.http', 'get_authentication', ('uri',), (), False),
    ('pywikibot.site._apisite', 'APISite.login', ('self', 'autocreate', 'user'),
     ('cookie_only',), False),
    ('pywikibot.site._apisite', 'APISite.logout', ('self',), (), False),
    ('pywikibot.site._apisite', 'APISite.is_oauth_token_available', ('self',), (), False),
    ('pywikibot.data.api', 'Request._internal_api_error', ('self', 'code', 'error', 'result'),
     (), False),
    ('pywikibot.login', 'ClientLoginManager.__init__', ('self', 'password', 'site', 'user'),
     (), False),
    ('pywikibot.login', 'ClientLoginManager.login', ('self',), ('retry', 'autocreate'), False),
    ('pywikibot.tools', 'normalize_username', ('username',), (), False),
)


def pywikibot_version() -> str:
    """The running Pywikibot's version, as ``pywikibot.__version__`` says it."""
    metadata = sys.modules.get('pywikibot.__metadata__')
    version = getattr(metadata, '__version__', None)
    if version is None:
        version = getattr(sys.modules.get('pywikibot'), '__version__', 'unknown')
    return str(version)


def tested_range() -> str:
    (low_major, low_minor), (high_major, high_minor) = TESTED_RANGE
    return f'{low_major}.{low_minor} to {high_major}.{high_minor}'


def _minor(version: str) -> tuple[int, int] | None:
    parts = version.split('.')
    try:
        return int(parts[0]), int(''.join(c for c in parts[1] if c.isdigit()) or 'x')
    except (IndexError, ValueError):
        return None


def in_tested_range(version: str) -> bool:
    minor = _minor(version)
    return minor is not None and TESTED_RANGE[0] <= minor <= TESTED_RANGE[1]


def _lookup(module_name: str, dotted: str) -> tuple[Any, str | None]:
    """The object at ``module.dotted``, or None and what is missing."""
    module = sys.modules.get(module_name)
    if module is None:
        try:
            module = __import__(module_name, fromlist=['_'])
        except ImportError:
            return None, f'{module_name} cannot be imported'
    owner: Any = module
    where = module_name
    for name in dotted.split('.'):
        where = f'{where}.{name}'
        owner = getattr(owner, name, _MISSING)
        if owner is _MISSING:
            return None, f'{where} is missing'
    return owner, None


def _signature_problem(where: str, function: Any, positional: tuple[str, ...],
                       by_name: tuple[str, ...], passes_kwargs: bool) -> str | None:
    if not callable(function):
        return f'{where} is not callable'
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return f'{where} has no signature'
    found = [p.name for p in parameters if p.kind in _POSITIONAL]
    if found[:len(positional)] != list(positional):
        return (f'{where} takes ({", ".join(found)}) where the plugin passes'
                f' ({", ".join(positional)})')
    names = {p.name for p in parameters if p.kind in _BY_NAME}
    missing = [name for name in by_name if name not in names]
    if missing:
        return f'{where} has no parameter {missing[0]!r}'
    if passes_kwargs and not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return f'{where} takes no **kwargs'
    return None


def _fetch_problem() -> str | None:
    """The replacement of ``get_authentication`` knows Pywikibot's ``fetch`` by its code."""
    fetch, _ = _lookup('pywikibot.comms.http', 'fetch')
    code = getattr(inspect.unwrap(fetch), '__code__', None)
    if code is None or 'get_authentication' not in code.co_names:
        return 'pywikibot.comms.http.fetch no longer calls get_authentication'
    return None


def _session_problem() -> str | None:
    session, missing = _lookup('pywikibot.comms.http', 'session')
    if missing:
        return missing
    if not hasattr(session, 'auth') or not callable(getattr(session, 'request', None)):
        return 'pywikibot.comms.http.session is not a requests.Session'
    return None


def find_problem() -> str | None:
    """The first patch point that is not what the plugin expects, or None."""
    for module_name, dotted, positional, by_name, passes_kwargs in PATCH_POINTS:
        target, missing = _lookup(module_name, dotted)
        if missing:
            return missing
        problem = _signature_problem(f'{module_name}.{dotted}', target, positional, by_name,
                                     passes_kwargs)
        if problem:
            return problem
    manager, _ = _lookup('pywikibot.login', 'ClientLoginManager')
    if not isinstance(manager, type):
        return 'pywikibot.login.ClientLoginManager is not a class'
    return _session_problem() or _fetch_problem()


def refusal(version: str, problem: str) -> str:
    """The one line that says the plugin is off, and why."""
    return (f'pwb_oauth_ext is not enabled for Pywikibot {version}: {problem} (tested:'
            f' Pywikibot {tested_range()}); OAuth1(...)/OAuth2(...) entries cannot be used,'
            ' Pywikibot handles 4-tuples itself; use a tested Pywikibot release')


def accepted(version: str, accept: str | None) -> bool:
    """True when the operator accepted this version (enable() argument or environment)."""
    given = [accept or '', os.environ.get(ACCEPT_ENV, '')]
    names = {name.strip() for value in given for name in value.split(',')}
    return version in names


def untested_warning(version: str) -> str:
    """The one warning line for a version outside the tested range."""
    return (f'pwb_oauth_ext: Pywikibot {version} is outside the tested range'
            f' ({tested_range()}); its internals check out, so the plugin is enabled.'
            f' To accept it: enable(accept_pywikibot={version!r}) or'
            f' {ACCEPT_ENV}={version}')
