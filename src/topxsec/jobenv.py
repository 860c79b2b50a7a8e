"""Set-up shared by the workflow's scripts: logging, numba cache, XRootD client.

Import this module, and call :func:`setup_job`, before anything imports numba:
numba reads ``NUMBA_CACHE_DIR`` and ``NUMBA_CPU_NAME`` once, at import.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from topxsec.logutil import setup_logging

log = logging.getLogger(__name__)


def numba_cache_dir(config: Mapping[str, Any]) -> Path:
    """The shared numba cache directory of a workflow config (absolute)."""
    configured = config.get("numba", {}).get("cache_dir")
    path = Path(configured or Path(config.get("results", "results")) / "numba_cache")
    return path.resolve()


def configure_numba(config: Mapping[str, Any]) -> None:
    """Point numba at the workflow's shared cache and target CPU.

    An environment that already sets ``NUMBA_CACHE_DIR`` (e.g. a facility's job
    wrapper pointing at node-local scratch) wins over the config.
    """
    cache = os.environ.get("NUMBA_CACHE_DIR") or str(numba_cache_dir(config))
    os.environ["NUMBA_CACHE_DIR"] = cache
    Path(cache).mkdir(parents=True, exist_ok=True)

    cpu_name = config.get("numba", {}).get("cpu_name")
    if cpu_name and "NUMBA_CPU_NAME" not in os.environ:
        os.environ["NUMBA_CPU_NAME"] = cpu_name


#: Environment variables that name the batch job a process runs in.
BATCH_JOB_VARIABLES = ("SLURM_JOB_ID", "_CONDOR_JOB_AD")


def batch_job() -> str:
    """Which batch job this process runs in, e.g. ``SLURM_JOB_ID=42``, or ``local``."""
    found = [f"{name}={os.environ[name]}" for name in BATCH_JOB_VARIABLES
             if os.environ.get(name)]
    return ", ".join(found) or "local"


#: XRootD client settings of the jobs (an environment that sets them wins): a
#: dead server fails the read within about half a minute, with an error that
#: names the URL, and Snakemake's retries take over, instead of the client's
#: defaults of five connection attempts of two minutes each.
XROOTD_DEFAULTS: dict[str, str] = {
    "XRD_CONNECTIONRETRY": "3",
    "XRD_CONNECTIONWINDOW": "10",
    "XRD_REQUESTTIMEOUT": "300",
}


def configure_xrootd() -> None:
    """Set :data:`XROOTD_DEFAULTS` where the environment does not.

    Must run before the XRootD client is first used (it reads them once).
    """
    for name, value in XROOTD_DEFAULTS.items():
        os.environ.setdefault(name, value)


def setup_job(smk: Any) -> None:
    """Log to the rule's log file and configure numba, from a ``snakemake`` object.

    The log's first line names the batch job (Slurm or HTCondor id) the rule
    runs in, so that a log shows where its job ran.

    Args:
        smk: The ``snakemake`` object Snakemake gives a ``script:``.
    """
    setup_logging(smk.log[0] if len(smk.log) else None)
    log.info("rule %s on %s, batch job: %s", smk.rule, socket.gethostname(),
             batch_job())
    configure_numba(smk.config)
    configure_xrootd()
    log.debug(
        "rule %s, wildcards %s, NUMBA_CACHE_DIR=%s",
        smk.rule, dict(smk.wildcards), os.environ["NUMBA_CACHE_DIR"],
    )


def write_json(path: str | Path, doc: Any) -> None:
    """Write a JSON document atomically (temporary name, then rename)."""
    import json

    from topxsec.outputs import write_text_atomic

    write_text_atomic(path, json.dumps(doc, indent=1, sort_keys=True))
