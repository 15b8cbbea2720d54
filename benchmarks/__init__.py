"""Benchmarks of pwb_oauth_ext (``tox -e bench``, ``python -m benchmarks``): not installed.

One module per section, each with ``run(bench) -> Report``; run.py selects, numbers and
prints them and writes bench-results.json; helpers.py holds what they share.
"""
