"""Where the console script and `python -m numbers_iac` start.

The CLI's imports take a moment; a Ctrl-C in it (or one that lands after the command has
finished, while Python closes down) would otherwise end in a traceback and a death by the
signal. Here it ends as any interrupted command does: one `error: interrupted` line, exit 130.
"""

from __future__ import annotations

import sys

EXIT_INTERRUPTED = 130


def run() -> None:
    try:
        from numbers_iac.cli import main

        main()
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
