"""Snakemake adapter: join the impact jobs; ranked table and ranking plot."""

import json
import logging
from pathlib import Path

from topxsec.jobenv import setup_job, write_json

setup_job(snakemake)  # noqa: F821 - the object Snakemake injects

from topxsec import inference  # noqa: E402
from topxsec.outputs import write_text_atomic  # noqa: E402
from topxsec.plotting_inference import plot_ranking  # noqa: E402

log = logging.getLogger("topxsec.ranking")
smk = snakemake  # noqa: F821
poi = json.loads(Path(smk.input.fit).read_text())["poi"]
parts = [json.loads(Path(path).read_text()) for path in smk.input.impacts]
ranked = inference.rank_impacts(inference.collect_impacts(parts))
for entry in ranked[:5]:
    log.info("largest post-fit impacts: %s %.4f", entry["parameter"],
             inference.impact_size(entry))

write_json(smk.output.impacts, {"poi": poi, "impacts": ranked})
write_text_atomic(smk.output.table, inference.impacts_html(ranked, poi))
plot_ranking(ranked, poi, smk.output.plot, top=smk.params.top)
