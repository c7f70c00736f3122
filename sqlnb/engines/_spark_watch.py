"""Ends a local Spark Connect server when the process that started it ends.

`LocalServer` (spark.py) runs this file by its path, with the standard library only, in a
session of its own: `python _spark_watch.py GROUP FOLDER`. The owner holds the only write end of
this process's stdin, so when the owner ends, however it ends (close(), SIGTERM, SIGKILL, a
kernel restart), the kernel closes that end and the read below returns. Then the server's
process group (spark-submit's JVM) is stopped, SIGTERM first and SIGKILL after a while, and the
server's folder (its warehouse and log) removed. A JVM left behind held 0.5-1.5 GB and its port.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time

#: Seconds the server has to end after SIGTERM, then after SIGKILL.
GRACE = (10.0, 5.0)


def _alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def stop(group: int) -> None:
    """Stop every process of `group`, waiting a while for each signal to take."""
    for sign, grace in zip((signal.SIGTERM, signal.SIGKILL), GRACE):
        try:
            os.killpg(group, sign)
        except (ProcessLookupError, PermissionError):
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not _alive(group):
                return
            time.sleep(0.1)


def main() -> None:
    group, folder = int(sys.argv[1]), sys.argv[2]
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is the owner's to take, not ours
    try:
        while os.read(0, 4096):  # nothing is ever written: this returns b"" at the owner's end
            pass
    except OSError:
        pass
    stop(group)
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
