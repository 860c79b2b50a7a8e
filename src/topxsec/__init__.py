"""The AGC top-pair cross-section analysis on CMS 2015 Open Data.

The package holds the analysis itself: the demo-data generator, the file sets,
the numba selection kernels, the histogram merge, the HistFactory workspace, the
fit and the plots. The Snakemake workflow at the repository root calls it through
thin scripts. Importing the package is cheap: heavy modules (numba, uproot,
pyhf, matplotlib) are imported by the submodules that need them.
"""

__version__ = "0.1.0"
