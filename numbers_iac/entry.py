"""Where the console script and `python -m numbers_iac` start.

The CLI's imports take a moment; a Ctrl-C in them would otherwise end in a traceback and a
death by the signal. Here it ends as any interrupted command does: one `error: interrupted`
line, exit 130. Once the command has finished, its work is recorded: a Ctrl-C while Python
closes down (waiting for a listing thread, say) ends the process at once, with the command's
own exit code.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

EXIT_INTERRUPTED = 130


def run() -> None:
    try:
        from numbers_iac.cli import main

        main()
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
    except SystemExit as done:
        _exit_at_once_on_interrupt(done.code)
        raise


def _exit_at_once_on_interrupt(code: object) -> None:
    status = code if isinstance(code, int) else (0 if code is None else 1)

    def leave(signum: int, frame: object) -> None:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(status)

    with contextlib.suppress(ValueError):  # not the main thread: nothing to do
        signal.signal(signal.SIGINT, leave)
