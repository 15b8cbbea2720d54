"""Sphinx configuration of the pwb_oauth_ext manual (``tox -e docs`` builds it with -W)."""
from __future__ import annotations

project = 'pwb_oauth_ext'
author = 'the pwb_oauth_ext developers'
copyright = '2026, ' + author
release = '0.1.0'

extensions = ['myst_parser', 'sphinxarg.ext']
source_suffix = {'.md': 'markdown'}
root_doc = 'index'
exclude_patterns = ['_build', 'conftest.py', '**/.pytest_cache']
myst_enable_extensions = ['colon_fence']
myst_heading_anchors = 3
html_theme = 'alabaster'
html_title = 'pwb_oauth_ext manual'
# Nothing in the manual is fetched from the network while it is built.
intersphinx_mapping: dict[str, tuple[str, None]] = {}
