"""A local MediaWiki stand-in with Extension:OAuth, for tests and the demo.

Built on oauthlib's server-side validators and the request/response shapes
recorded from MediaWiki 1.39 and 1.43 (see ``data/``). Listens on 127.0.0.1 only.
``server``, ``farm``, ``pytest_plugin``, ``pywikibot_env`` and ``browser`` are what
bot authors use; ``app`` routes to the Action API (``actionapi``, ``pagesapi``) and
to the OAuth providers (``providers``). May import the protocol, config, network
and errors layers; never Pywikibot (it runs Pywikibot only in subprocesses), the
integration or the commands. The commands (``demo``, ``testwiki``) import it.
"""
