"""A local MediaWiki stand-in with Extension:OAuth, for tests and the demo.

Built on oauthlib's server-side validators and the request/response shapes
recorded from MediaWiki 1.39 (see ``data/``). Listens on 127.0.0.1 only.
"""
