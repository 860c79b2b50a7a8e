"""Named errors of the analysis.

Each message names the offending file, branch, URL or config key and says what
to do about it, so that a failed batch job explains itself in its log.
"""

from __future__ import annotations


class AnalysisError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(AnalysisError, ValueError):
    """A configuration value is invalid; the message names the key."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(f"config key '{key}': {message}")


class InputFileError(AnalysisError, OSError):
    """An input file is missing, truncated, unreadable or not a NanoAOD file."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        super().__init__(f"input file '{path}': {message}")


class MissingBranchError(InputFileError):
    """An input file lacks a branch the analysis needs."""

    def __init__(self, path: str, branches: list[str] | tuple[str, ...]) -> None:
        self.branches = tuple(branches)
        names = ", ".join(self.branches)
        super().__init__(
            path,
            f"missing branch(es) {names} in tree 'Events'; the analysis needs "
            "NanoAOD with these branches (check the file set points at NanoAOD)",
        )


class RemoteReadError(InputFileError):
    """A remote (``root://``, ``https://``) input could not be read."""


class FileSetError(AnalysisError, ValueError):
    """A file set (catalogue or user file) is malformed or cannot be fetched."""


class WorkspaceError(AnalysisError, ValueError):
    """The statistical model cannot be built from the histograms and model file."""
