"""User-facing errors: each carries one line that names the bad file, tensor or step."""


class CkptscopeError(Exception):
    """Base of every error the CLI turns into one clear line and exit code 1."""


class CheckpointError(CkptscopeError):
    """A checkpoint is missing, truncated, corrupt or disagrees with its config."""


class UnknownArchitectureError(CkptscopeError):
    """No registered adapter handles a config's architecture."""


class UsageError(CkptscopeError):
    """Bad user input: an unknown preset, a bad step selection, an unwritable folder."""


def first_line(err: BaseException) -> str:
    """The first line of an error's message (its type's name when it has none)."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def one_line(err: BaseException) -> str:
    """An error as one line: the message of ours and of bad input, else type and message."""
    if isinstance(err, CkptscopeError | ValueError | FileNotFoundError):
        return first_line(err)
    return f"{type(err).__name__}: {first_line(err)}"
