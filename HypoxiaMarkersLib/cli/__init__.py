"""The ``hypoxia-markers`` command: one subcommand per capability.

Each subcommand lives in its own module ``HypoxiaMarkersLib.cli.commands.<name>`` and provides ``ORDER`` (an int,
its place in ``--help``) and ``register(subparsers)``, which adds its parser and sets ``func`` to a function
taking the parsed arguments and returning an exit code. Modules are found automatically, so adding a command
touches no shared file.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import signal
import sys
from typing import List, Optional

from .. import __version__
from ..errors import InputError
from . import commands
from .options import HelpFormatter


def _command_modules():
    names = [m.name for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_")]
    modules = [importlib.import_module(f"{commands.__name__}.{name}") for name in names]
    return sorted(modules, key=lambda module: (getattr(module, "ORDER", 100), module.__name__))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hypoxia-markers",
        description=(
            "Hypoxia biomarkers for cervical cancer: DCE-MRI Brix model maps (A_Brix) and hypoxic fractions, "
            "the 6-gene hypoxia score, their composite, heterogeneity and survival statistics "
            "(Fjeldbo et al., EBioMedicine 2020;57:102841)."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _command_modules():
        module.register(subparsers)
    for command in subparsers.choices.values():
        # Every command's --help shows each default once (see options.HelpFormatter).
        if command.formatter_class is argparse.ArgumentDefaultsHelpFormatter:
            command.formatter_class = HelpFormatter
    return parser


class Terminated(BaseException):
    """SIGTERM (``kill``, a scheduler's time limit) as an exception, so that the atomic writers remove their
    temporary folders on the way out, as they do on Ctrl-C."""


def _terminate(signum, frame):
    raise Terminated()


def _install_sigterm_handler():
    try:
        return signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread (e.g. called from Slicer's Python): leave signals alone
        return None


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    previous = _install_sigterm_handler()
    try:
        return int(args.func(args) or 0)
    except InputError as error:
        print(f"hypoxia-markers {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"hypoxia-markers {args.command}: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print(f"hypoxia-markers {args.command}: terminated (nothing half-written was left)", file=sys.stderr)
        return 128 + signal.SIGTERM
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
