"""The Pywikibot integration: the only code that imports Pywikibot's internals.

May import ``config``, ``protocol`` and ``errors``; never the commands or the
test wiki. ``enable()`` imports ``hook`` only, which imports nothing of
Pywikibot until Pywikibot's site module has loaded. The commands use this
package's facade (``pwb_oauth_ext.integration.facade``), not its other modules.
"""
