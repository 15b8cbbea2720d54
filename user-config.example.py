# user-config.py with pwb_oauth_ext: every feature, commented.
#
# Pywikibot runs this file on every start, while Pywikibot itself is only half
# imported. Importing pwb_oauth_ext here is cheap and safe: it imports no
# Pywikibot, requests-oauthlib, oauthlib or jwt until a credential is used.
# Import it under a private name (leading underscore): Pywikibot warns about
# any other unknown public name in this file.

import pwb_oauth_ext as _oauth

_oauth.enable()                      # patch Pywikibot once its site module is loaded
# _oauth.enable(token_store='~/.config/pwb/tokens.json')   # token file elsewhere

family = 'wikipedia'
mylang = 'en'

# The account per wiki. Optional with OAuth: when unset, the token's own
# identity becomes the site's user. When set and different, login() fails with
# an error naming both names and the matched authenticate key.
usernames['wikipedia']['en'] = 'ExampleBot'

# ---------------------------------------------------------------------------
# OAuth 1.0a
# ---------------------------------------------------------------------------
# Pywikibot's own format still works: a 4-tuple
# (consumer key, consumer secret, access token, access secret).
#   authenticate['en.wikipedia.org'] = ('ck', 'cs', 'ak', 'as')

# The same as an object, with the secrets kept out of this file:
authenticate['en.wikipedia.org'] = _oauth.OAuth1(
    _oauth.env('WP_CONSUMER_KEY'),             # an environment variable
    _oauth.env('WP_CONSUMER_SECRET'),
    _oauth.env('WP_ACCESS_TOKEN'),
    _oauth.file('~/.config/pwb/wp-access-secret'),   # a file of mode 0600
)

# A consumer that is not owner-only: give only the consumer pair and run
#   pwb-oauth authorize -site:wikipedia:de
# once; the access token is kept in the token store, not here.
authenticate['de.wikipedia.org'] = _oauth.OAuth1(
    _oauth.keyring('pwb', 'dewiki-consumer-key'),     # the system keyring
    _oauth.keyring('pwb', 'dewiki-consumer-secret'),  # (pip install "pwb_oauth_ext[keyring]")
)

# Wildcards: '*.wikimedia.org' matches commons.wikimedia.org, meta.wikimedia.org,
# ... on label boundaries only (never wikimedia.org itself, nor evilwikimedia.org).
# The longest matching suffix wins; an exact host beats every wildcard.
#   authenticate['*.wikimedia.org'] = _oauth.OAuth1('ck', 'cs', 'ak', 'as')

# A second account on one wiki: 'Account@host'. Selected when the site's user is
# that account, e.g. `pwb -user:OtherBot ...`. Account entries come first.
#   authenticate['OtherBot@en.wikipedia.org'] = _oauth.OAuth1('ck2', 'cs2', 'ak2', 'as2')

# ---------------------------------------------------------------------------
# OAuth 2.0
# ---------------------------------------------------------------------------
# An owner-only client: its one (non-expiring) access token.
authenticate['*.wikipedia.org'] = _oauth.OAuth2(access_token=_oauth.env('WP_OAUTH2_TOKEN'))

# Client credentials (an owner-only client's id and secret): the token is
# fetched from rest.php/oauth2/access_token on first use and renewed by itself.
authenticate['meta.wikimedia.org'] = _oauth.OAuth2(
    client_id='0123456789abcdef0123456789abcdef',
    client_secret=_oauth.env('META_CLIENT_SECRET'),
    grant='client_credentials',
)

# Authorization code with PKCE: run `pwb-oauth authorize -site:wikipedia:test`
# once; access and refresh tokens go to the token store and renew by themselves.
# Without client_secret this is a public client (note: MediaWiki 1.39 does not
# let public clients refresh); with it, a confidential one.
authenticate['test.wikipedia.org'] = _oauth.OAuth2(
    client_id='fedcba9876543210fedcba9876543210',
    client_secret=_oauth.env('TESTWIKI_CLIENT_SECRET'),
    redirect_uri='http://127.0.0.1:8765/oauth2/callback',   # as registered; loopback
    # token_url=..., authorize_url=..., profile_url=...      # override derived endpoints
)

# Wiki farms: a grant is made on the farm's central wiki and stored once for
# every wiki of the farm (one authorize, one token, one refresh per expiry).
# Wikimedia sites use meta.wikimedia.org by default (register the consumer for
# all projects); other farms name theirs. `pwb-oauth check --all` lists them.
#   authenticate['*.example-farm.org'] = _oauth.OAuth2(
#       client_id='...', client_secret=_oauth.env('FARM_SECRET'),
#       central_wiki='auth.example-farm.org')   # or 'https://auth.example-farm.org/w'

# HTTP basic authentication (a 2-tuple) is passed on as in Pywikibot.
#   authenticate['intranet.example.org'] = ('user', _oauth.env('INTRANET_PASSWORD'))

# A bare '*' entry is only ever sent to the host of the wiki a request is for,
# never to SPARQL endpoints, toolforge, upload-by-URL or external links.
#   authenticate['*'] = _oauth.OAuth2(access_token=_oauth.env('TOKEN'))

# With OAuth, no password is ever sent, even if a password file holds one.
# password_file = 'user-password.py'
