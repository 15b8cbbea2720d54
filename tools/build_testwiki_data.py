"""Rebuild pwb_oauth_ext/testwiki/data/mw-*/ from the recorded MediaWiki answers.

    python tools/build_testwiki_data.py /path/to/shared/mediawiki-oauth

Keeps every module, parameter and siteinfo property as recorded (formatversion=2), minified
(nothing is dropped: the live answer must equal a recorded one), and adds the ``main``
module, which ``modules=*`` does not include, built from the recorded action and format
modules and ApiMain's other parameters (tools/testwiki-main-parameters.json).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / 'pwb_oauth_ext' / 'testwiki' / 'data'
SOURCES = {'1.39': 'mw-1.39-api', '1.43': 'mw-1.43'}
#: ApiMain's parameters other than action/format, as MediaWiki 1.39 and 1.43 define them.
MAIN_PARAMETERS = json.loads(Path(__file__).with_name('testwiki-main-parameters.json')
                             .read_text(encoding='utf-8'))


def _main(modules: list[dict]) -> dict:
    actions = sorted(m['path'] for m in modules if m['group'] == 'action')
    formats = sorted(m['path'] for m in modules if m['group'] == 'format')
    params = [
        {'index': 1, 'name': 'action', 'type': actions, 'required': False, 'multi': False,
         'default': 'help', 'submodules': {a: a for a in actions}},
        {'index': 2, 'name': 'format', 'type': formats, 'required': False, 'multi': False,
         'default': 'jsonfm', 'submodules': {f: f for f in formats}},
    ] + MAIN_PARAMETERS
    return {'name': 'main', 'path': 'main', 'prefix': '',
            'readrights': True, 'writerights': False, 'mustbeposted': False,
            'parameters': params, 'templatedparameters': [], 'dynamicparameters': False}


def main(recordings: str) -> None:
    root = Path(recordings)
    for version, folder in SOURCES.items():
        out = DATA / f'mw-{version}'
        out.mkdir(exist_ok=True)
        recorded = json.loads((root / folder / 'api-paraminfo-all.json').read_text('utf-8'))
        modules = recorded['response']['body']['paraminfo']['modules']
        server = recorded['source'].rsplit(' on ', 1)[1].rstrip('.')
        paraminfo = {'server': server, 'helpformat': 'none',
                     'modules': {m['path']: m for m in modules}}
        paraminfo['modules']['main'] = _main(modules)
        (out / 'paraminfo.json').write_text(json.dumps(paraminfo, separators=(',', ':'),
                                                       sort_keys=True), encoding='utf-8')
        site = json.loads((root / folder / 'api-siteinfo-full.json').read_text('utf-8'))
        siteinfo = dict(site['response']['body']['query'], server=server)
        (out / 'siteinfo.json').write_text(json.dumps(siteinfo, separators=(',', ':'),
                                                      sort_keys=True), encoding='utf-8')


if __name__ == '__main__':
    main(sys.argv[1])
