#!/usr/bin/env python3
"""meson install script: puts the example configuration in place only where there is none.

    install_config.py SOURCE SYSCONFDIR/lianpay-notifyd/lianpay-notifyd.conf

An existing file is the operator's (merchant number, key paths, and the group systemd-tmpfiles
gave it): re-running `meson install` keeps it, as dpkg keeps a changed conffile, and says so. A
new file is 0640 (only the daemon's group reads it, once tmpfiles.d has set that group). Into a
DESTDIR (a package build: debian/tmp) the file is always absent, so the package ships it.
"""
import os
import shutil
import sys


def main(source, target):
    destdir = os.environ.get('DESTDIR', '')
    path = os.path.join(destdir, target.lstrip('/')) if destdir else target
    if os.path.lexists(path):
        print('Keeping %s (it is the operator\'s; the example is %s)' % (path, source))
        return 0
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + '.new'
    shutil.copyfile(source, tmp)
    os.chmod(tmp, 0o640)
    os.replace(tmp, path)
    print('Installing %s to %s' % (source, path))
    return 0


if __name__ == '__main__':
    if len(sys.argv) != 3:
        sys.exit('usage: install_config.py SOURCE TARGET')
    sys.exit(main(sys.argv[1], sys.argv[2]))
