"""The command-line tools' failures: one line on stderr and the documented exit status.

In-process: the experiment-file check and the exception-to-status mapping. The tools
themselves run as subprocesses in test_experiment.py (run) and test_eval.py (eval).
"""

import errno
import textwrap

import pytest

from jaxsafe import cli_errors
from jaxsafe.checkpointing import Checkpointer
from jaxsafe.config import ConfigError
from jaxsafe.experiment import RunInterrupted, TrainingDiverged
from jaxsafe.workdir import RunNotFoundError, WorkdirError


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (None, r"--config .*experiment.py does not exist"),
        (
            "def get_config(:\n",
            r"does not load: SyntaxError: invalid syntax \(experiment.py, line 1",
        ),
        ("import no_such_module\n", r"does not load: ModuleNotFoundError: .* \(line 1\)"),
        ("x = 1\n", r"defines no get_config\(\) function"),
        (
            """
            from jaxsafe.config import make_config

            def get_config():
                return make_config("dqn", "IcyLake-v1")
            """,
            r"get_config\(\) failed: ConfigError: algo.name: unknown algorithm 'dqn'.*\(line 5\)",
        ),
        ("def get_config():\n    pass\n", r"get_config\(\) returned NoneType, not an ml_collec"),
    ],
    ids=["missing", "syntax", "import", "no_get_config", "raises", "returns_none"],
)
def test_every_broken_experiment_file_is_one_config_error(tmp_path, body, message):
    path = tmp_path / "experiment.py"
    if body is not None:
        path.write_text(textwrap.dedent(body))
    with pytest.raises(ConfigError, match=message):
        cli_errors.check_experiment_file(str(path))
    with pytest.raises(ConfigError, match="is a directory"):
        cli_errors.check_experiment_file(str(tmp_path))


@pytest.mark.parametrize(
    ("error", "status", "line"),
    [
        (ConfigError("config.algo.discount = 2: must lie in [0, 1]"), 2, "error: config.algo"),
        (WorkdirError("work directory x is a file, not a directory"), 2, "error: work directory"),
        (RunNotFoundError("work directory x does not exist"), 2, "error: work directory x"),
        (TrainingDiverged("loss/value is not finite at update 4 (seed 0); ..."), 3, "error: train"),
        (OSError(errno.ENOSPC, "No space left on device", "runs/x"), 4, "error: [Errno 28] No sp"),
        (OSError(errno.EROFS, "Read-only file system", "runs/x"), 4, "error: [Errno 30] Read-on"),
        (RunInterrupted("interrupted after update 7; run the same command to resume"), 130, "in"),
        (KeyboardInterrupt(), 130, "interrupted"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else None,
)
def test_expected_failures_exit_with_one_line_and_their_status(capsys, error, status, line):
    with pytest.raises(SystemExit) as exited, cli_errors.exit_on_error():
        raise error
    assert exited.value.code == status
    stderr = capsys.readouterr().err
    assert stderr.count("\n") == 1 and stderr.startswith(line)


def test_a_full_disk_while_checkpointing_is_an_os_error(tmp_path, monkeypatch):
    """tensorstore reports ENOSPC as a ValueError carrying the OS error code."""
    checkpointer = Checkpointer(tmp_path / "checkpoints")

    def full(*args, **kwargs):
        raise ValueError("RESOURCE_EXHAUSTED: Error writing ... [os_error_code='28']")

    monkeypatch.setattr(checkpointer._manager, "save", full)
    with pytest.raises(OSError, match="No space left on device") as raised:
        checkpointer.save(1, {"x": 1.0})
    assert raised.value.errno == errno.ENOSPC
    checkpointer.close()
