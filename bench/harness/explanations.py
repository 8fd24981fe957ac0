"""Why a target was missed, per figure and target, for docs/benchmarks.md.

Written from profiling the code paths, not from one run's numbers; shown
only next to a target that the run missed.  Update when the code changes.
"""

EXPLANATIONS = {
}

FALLBACK = ("No analysis is recorded for this target yet (bench/harness/explanations.py); "
            "see the ratios above.")


def explain(figure_key, target_text):
    for (key, prefix), text in EXPLANATIONS.items():
        if key == figure_key and target_text.startswith(prefix):
            return text
    return FALLBACK
