"""Run Snakemake with the HTCondor executor, recording instead of submitting.

No HTCondor pool can run here, so this launcher replaces the scheduler client
(``htcondor2.Schedd``) of the executor plugin by a recorder: the plugin builds
the real submit description of every job, exactly as it would at a facility,
and the recorder appends it (its keys and values) as one JSON line to
``$CONDOR_CAPTURE`` and then refuses the submission, so the run stops. Tests
turn the recorded descriptions into job ClassAds with the HTCondor bindings.

Usage: ``python tests/condor_capture.py <snakemake arguments>``.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import htcondor2
import snakemake_executor_plugin_htcondor as plugin


class RecordingSchedd:
    """Stands in for ``htcondor2.Schedd``: records submissions, accepts none."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def submit(self, description: htcondor2.Submit, *args: Any, **kwargs: Any) -> None:
        with open(os.environ["CONDOR_CAPTURE"], "a") as f:
            f.write(json.dumps({key: description[key] for key in description.keys()}))
            f.write("\n")
        raise RuntimeError("recorded by tests/condor_capture.py, not submitted")


def main() -> int:
    """Patch the plugin's scheduler client and run Snakemake's command line."""
    plugin.htcondor.Schedd = RecordingSchedd
    from snakemake.cli import main as snakemake_main

    sys.argv = ["snakemake", *sys.argv[1:]]
    return snakemake_main()


if __name__ == "__main__":
    sys.exit(main())
