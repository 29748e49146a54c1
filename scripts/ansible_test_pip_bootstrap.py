"""Stand-in for pip's get-pip.py when ansible-test cannot download it (no internet here).

ansible-test uses ~/.ansible/test/cache/get_pip_<version>.py when present. ensurepip provides
pip from the interpreter itself; pip then installs what ansible-test asked for.
"""
import ensurepip
import os
import subprocess
import sys


def main():
    ensurepip.bootstrap(upgrade=True)
    # ensurepip points PIP_CONFIG_FILE at /dev/null; the machine's pip config holds its proxy CA.
    os.environ.pop("PIP_CONFIG_FILE", None)
    args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
    return subprocess.call([sys.executable, "-m", "pip", "install"] + args)


if __name__ == "__main__":
    sys.exit(main())
