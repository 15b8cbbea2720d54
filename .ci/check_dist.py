"""Check that the built wheel and sdist carry the files the package needs at run time.

The test wiki reads its recorded siteinfo/paraminfo from testwiki/data/mw-*/*.json, and
Pywikibot's wrapper imports scripts/i18n (pwb oauth fails without it): a wheel
missing them installs fine and breaks at the first use.

Usage: python .ci/check_dist.py DIST_DIR
"""
from __future__ import annotations

import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NEEDED = sorted(str(path.relative_to(ROOT)) for pattern in (
    'pwb_oauth_ext/testwiki/data/**/*.json', 'pwb_oauth_ext/scripts/i18n/*')
    for path in ROOT.glob(pattern))


def main(dist: Path) -> int:
    [wheel] = dist.glob('*.whl')
    [sdist] = dist.glob('*.tar.gz')
    with zipfile.ZipFile(wheel) as archive:
        in_wheel = set(archive.namelist())
    with tarfile.open(sdist) as archive:
        in_sdist = {name.split('/', 1)[1] for name in archive.getnames() if '/' in name}
    missing = [f'{name} (wheel)' for name in NEEDED if name not in in_wheel]
    missing += [f'{name} (sdist)' for name in NEEDED if name not in in_sdist]
    if not NEEDED or missing:
        print(f'check_dist: missing from the distribution: {", ".join(missing) or "all"}')
        return 1
    print(f'check_dist: {wheel.name} and {sdist.name} contain {", ".join(NEEDED)}')
    return 0


if __name__ == '__main__':
    sys.exit(main(Path(sys.argv[1])))
