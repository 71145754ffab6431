"""How the command-line tools fail: one or two lines on stderr and a documented exit status.

``jaxsafe.run``, ``jaxsafe.eval`` and ``jaxsafe.compare`` parse their flags with
:func:`parse_flags` (``app.run(main, flags_parser=parse_flags)``) and run inside
:func:`exit_on_error`. The exit statuses (README "Exit status"):

====  =========================================================================================
0     done
1     an unexpected error (a bug): Python's traceback
2     a bad command line, experiment file, config value or work directory; the line names it
3     training diverged (a NaN or infinity); the line names the update, seed and metric
4     the file system refused (read-only, full, no permission); the line names the path
130   interrupted (Ctrl-C); ``jaxsafe.run`` says after which update it resumes
====  =========================================================================================
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import ml_collections
from absl import app, flags, logging

from jaxsafe.config import ConfigError
from jaxsafe.experiment import TrainingDiverged
from jaxsafe.workdir import RunNotFoundError, WorkdirError

EXIT_USAGE = 2
EXIT_DIVERGED = 3
EXIT_FILE_SYSTEM = 4
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports it


def parse_flags(argv: list[str]) -> list[str]:
    """absl's flags parser for the tools: a bad flag, ``--config`` file or override, or a
    positional argument, exits with status 2 and one line instead of a traceback."""
    try:
        path = _flag_value(argv[1:], "config") if "config" in flags.FLAGS else None
        if path is not None:
            check_experiment_file(path)
        remaining = flags.FLAGS(argv)
    except flags.Error as error:
        _fail(EXIT_USAGE, f"error: {_first_line(error)} (--help lists the flags)")
    except (ConfigError, AttributeError, KeyError, TypeError, ValueError) as error:
        _fail(EXIT_USAGE, f"error: {_first_line(error)}")
    if len(remaining) > 1:
        _fail(EXIT_USAGE, f"error: unexpected arguments {remaining[1:]}")
    return remaining


def check_experiment_file(argument: str) -> ml_collections.ConfigDict:
    """Loads the experiment file of ``--config PATH[:ARG]`` and returns ``get_config([ARG])``.

    ml_collections loads the file again when it parses the flags; this first load only turns
    every way the file can fail into one :class:`ConfigError` naming it.
    """
    path, _, config_argument = argument.partition(":")
    file = Path(path)
    if not file.is_file():
        problem = "is a directory" if file.is_dir() else "does not exist"
        raise ConfigError(f"--config {path} {problem}; it should be an experiment file")
    spec = importlib.util.spec_from_file_location(f"_experiment_{file.stem}", file)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # anything the user's file raises while loading
        raise ConfigError(f"--config {path} does not load: {_describe(error, file)}") from None
    get_config = getattr(module, "get_config", None)
    if not callable(get_config):
        raise ConfigError(f"--config {path} defines no get_config() function")
    try:
        config = get_config(*[config_argument] if config_argument else [])
    except Exception as error:  # anything get_config raises
        raise ConfigError(
            f"--config {path}: get_config() failed: {_describe(error, file)}"
        ) from None
    if not isinstance(config, ml_collections.ConfigDict):
        raise ConfigError(
            f"--config {path}: get_config() returned {type(config).__name__}, "
            "not an ml_collections.ConfigDict"
        )
    return config


@contextlib.contextmanager
def exit_on_error() -> Iterator[None]:
    """Turns the expected failures of a tool's ``main`` into one line and an exit status.

    Silences absl logging (orbax logs every save at INFO, and a failed save's traceback from
    each of its threads at ERROR): the failures that matter reach ``main`` as exceptions.
    """
    logging.set_verbosity(logging.FATAL)
    try:
        yield
    except (ConfigError, RunNotFoundError, WorkdirError, app.UsageError) as error:
        _fail(EXIT_USAGE, f"error: {error}")
    except TrainingDiverged as error:
        _fail(EXIT_DIVERGED, f"error: training diverged: {error}")
    except OSError as error:  # after RunNotFoundError, a FileNotFoundError
        _fail(EXIT_FILE_SYSTEM, f"error: {error}")
    except KeyboardInterrupt as error:
        _fail(EXIT_INTERRUPTED, str(error) or "interrupted")


def _fail(status: int, message: str) -> NoReturn:
    print(message, file=sys.stderr)
    sys.exit(status)


def _flag_value(arguments: list[str], name: str) -> str | None:
    """The value of ``--name=VALUE`` or ``--name VALUE`` (the last one), else ``None``."""
    value = None
    for index, argument in enumerate(arguments):
        flag, equals, rest = argument.lstrip("-").partition("=")
        if argument.startswith("-") and flag == name:
            if equals:
                value = rest
            elif index + 1 < len(arguments):
                value = arguments[index + 1]
    return value


def _describe(error: Exception, file: Path) -> str:
    """``Type: message``, with the line of ``file`` it came from when the traceback has it."""
    lines = [
        frame.lineno
        for frame in traceback.extract_tb(error.__traceback__)
        if Path(frame.filename).resolve() == file.resolve()
    ]
    where = f" (line {lines[-1]})" if lines and not isinstance(error, SyntaxError) else ""
    return f"{type(error).__name__}: {_first_line(error)}{where}"


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
