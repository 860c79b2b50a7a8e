# Stage 4: one histogram job per skim, every variation in one pass. Outputs
# are unnormalized; sigma*L/N is applied at the merge.


rule fill_histograms:
    """Fill every variation's histograms of one skim."""
    input:
        skim=SKIM,
        kernels=KERNEL_STAMP.format(kernel="histograms"),
    output:
        FILE_HISTOGRAMS,
    params:
        code=code_version("fill_histograms"),
        binning=vars(BINNING),
        cuts=CUTS,
    log:
        logfile("fill_histograms", "{process}/{variation}/{part}"),
    benchmark:
        benchfile("fill_histograms", "{process}/{variation}/{part}")
    threads: stage_threads("histograms")
    resources:
        **stage_resources("histograms"),
    script:
        "../scripts/fill_histograms.py"
