"""User-facing errors: each carries one line that names the bad file, tensor or step."""


class CkptscopeError(Exception):
    """Base of every error the CLI turns into one clear line and exit code 1."""


class CheckpointError(CkptscopeError):
    """A checkpoint is missing, truncated, corrupt or disagrees with its config."""


class UnknownArchitectureError(CkptscopeError):
    """No registered adapter handles a config's architecture."""


class UsageError(CkptscopeError):
    """Bad user input: an unknown preset, a bad step selection, an unwritable folder."""
