"""A phase's scoring and ranking rules in words, for the challenge page.

Derived from the frozen config, so the published text cannot drift from what is computed.
"""

from __future__ import annotations

from typing import Any

from challenge.evaluations.charge import CANCEL_RULE
from challenge.phases.config import PhaseConfigSpec
from challenge.visibility import REFERENCE_CONDITIONAL
from evaluator.metrics import METRICS, resolve_config
from evaluator.metrics.config import AnimaRule, IoURule, MetricsConfig

_NEIGHBOURS = {6: "sharing a face", 18: "sharing a face or an edge",
               26: "sharing a face, an edge or a corner"}
_COUNTS = {"best": "each team's best submission (on the primary metric) counts",
           "latest": "each team's latest submission counts",
           "selected": "the submission each team selects counts (its latest one if it selected "
                       "none)"}


def _pct(x: float) -> str:
    return f"{100 * x:g} %"


def lesion_rules(metrics: str | dict[str, Any]) -> list[str]:
    """Sentences describing lesion detection under a preset or custom metrics config."""
    c: MetricsConfig = resolve_config(metrics)
    name = f"the “{c.name}” preset" if c.name != "custom" else "a custom configuration"
    out = [f"Lesion matching follows {name}: lesions are {c.connectivity}-connected components "
           f"(voxels {_NEIGHBOURS[c.connectivity]} belong to the same lesion)."]
    sizes = {c.ref_min_volume_mm3, c.pred_min_volume_mm3}
    if sizes == {None}:
        out.append("Every lesion counts, however small.")
    elif len(sizes) == 1:
        out.append(f"Lesions of {c.ref_min_volume_mm3:g} mm³ or less are ignored in both the "
                   "reference and the prediction.")
    else:
        out.append(f"Lesions of at most {c.ref_min_volume_mm3} mm³ (reference) and "
                   f"{c.pred_min_volume_mm3} mm³ (prediction) are ignored.")
    rule = c.rule
    if isinstance(rule, AnimaRule):
        out.append(
            f"A reference lesion counts as detected when more than {_pct(rule.alpha)} of its "
            "voxels are covered by the prediction and, going through the predicted lesions "
            "that overlap it from the largest overlap down until they account for "
            f"{_pct(rule.gamma)} of the covered voxels, none of them has more than "
            f"{_pct(rule.beta)} of its own voxels outside every reference lesion (Anima, "
            "Commowick et al. 2018). A predicted lesion is correct by the same rule with the "
            "roles swapped.")
    elif isinstance(rule, IoURule):
        cmp = ">" if rule.strict else "≥"
        out.append(f"A lesion counts as detected (or correct) when its best intersection over "
                   f"union with a lesion of the other mask is {cmp} {rule.tau:g}.")
    else:
        out.append("A lesion counts as detected (or correct) when it shares at least one voxel "
                   "with the other mask.")
    if c.counting == "one_to_one":
        out.append("Lesions are paired one to one, best-matching pairs first; each matched "
                   "pair is a true positive.")
    else:
        out.append("Lesion recall = detected reference lesions / reference lesions; lesion "
                   "precision = correct predicted lesions / predicted lesions.")
    if c.empty_side_value is not None:
        out.append(f"With no predicted lesion, precision is {c.empty_side_value:g}; with no "
                   f"reference lesion, recall is {c.empty_side_value:g}.")
    if c.f1_formula == "shifts":
        out.append("Lesion F1 = TP / (TP + (FP + FN) / 2), as in Shifts 2022.")
    else:
        out.append("Lesion F1 is the harmonic mean of lesion precision and recall (0 when both "
                   "are 0).")
    both = "undefined" if c.dice_both_empty is None else f"{c.dice_both_empty:g}"
    out.append(f"Dice is 2|P∩R| / (|P| + |R|); a case where both masks are empty scores {both}.")
    return out


def ranking_rules(spec: PhaseConfigSpec, n_cases: int | None) -> list[str]:
    """Sentences describing how the leaderboard is computed."""
    r = spec.ranking
    cases = f"the {n_cases} test cases" if n_cases else "the test cases"
    labels = [f"{METRICS[m].label}{' (' + METRICS[m].unit + ')' if METRICS[m].unit else ''} "
              f"({'higher' if METRICS[m].higher_is_better else 'lower'} is better)"
              for m in r.metrics]
    out = [f"Ranked metrics: {', '.join(labels)}; primary metric: "
           f"{METRICS[r.primary_metric].label}."]
    if r.method == "aggregate_then_rank":
        out.append(f"Aggregate then rank: each metric's {r.aggregate} over {cases} is computed "
                   "per team, then teams are ranked on it.")
    elif r.method == "rank_then_aggregate":
        out.append(f"Rank then aggregate: teams are ranked within each case, then ranked on "
                   f"the {r.aggregate} of their per-case ranks.")
    else:
        out.append("Test then rank: every pair of teams is compared case by case with a "
                   f"one-sided paired Wilcoxon signed-rank test (α = {r.alpha:g}); a team's "
                   "score is the share of other teams it beats significantly.")
    if len(r.metrics) > 1:
        out.append("With several metrics, each is ranked on its own and the final rank is the "
                   "rank of the mean of the per-metric ranks.")
    out.append(f"Scores are rounded to {r.precision} decimals; equal scores share a rank "
               "(1, 1, 3).")
    out.append("A case without a valid output (crash, timeout, invalid mask) is never dropped: "
               "it gets the metric's worst value (0 for Dice and lesion scores; for volume "
               "errors the worst value any ranked team has on that case).")
    out.append(_COUNTS[spec.submissions.counts].capitalize() + ".")
    if r.bootstrap_samples:
        out.append(f"Rank intervals show the 2.5–97.5 % range of each team's rank over "
                   f"{r.bootstrap_samples} bootstrap samples of the cases (fixed seed, so they "
                   "are reproducible).")
    return out


def visibility_rules(spec: PhaseConfigSpec, hide_scores_until_close: bool) -> list[str]:
    """Sentences saying what participants and the public see (``challenge.visibility``)."""
    r = spec.ranking
    out = ["Each team sees the state, queue position and progress of its own evaluations and "
           "the category of any failure (timeout, out of memory, crash, invalid output)."]
    if hide_scores_until_close:
        out.append("Before the phase closes, no score is shown to anyone but the organizers: "
                   "the leaderboard lists the teams with a valid submission, without ranks or "
                   "scores.")
    if spec.show_per_case_scores:
        out.append("Per-case scores of the ranked metrics are published: to each team for its "
                   "own evaluations, and for every ranked team with the leaderboard (per-case "
                   "CSV and score distribution). A team can thus learn what its predictions' "
                   "scores tell about each case (an empty prediction's volume difference is "
                   "the reference volume).")
        withheld = [METRICS[m].label + (f" ({METRICS[m].unit})" if METRICS[m].unit else "")
                    for m in r.metrics if m in REFERENCE_CONDITIONAL]
        if withheld:
            out.append(f"{', '.join(withheld)} is not published per case: it is undefined "
                       "exactly when a case has no reference lesion, so its per-case value "
                       "would tell which cases are lesion-free; only its aggregate is shown.")
        out.append("A score that is undefined in a scored case (for example lesion recall "
                   "where the reference has no lesion) is shown as the ranking counts it: the "
                   "metric's worst value.")
    else:
        out.append("Per-case scores are not published: teams see mean scores of their own "
                   "evaluations (ranked metrics only), and the leaderboard plot shows each "
                   f"team's {r.aggregate} of the primary metric only, with no per-case point, "
                   "quartile, whisker or extreme.")
    out.append("Counts and volumes computed from the reference masks (reference lesions and "
               "volume, detected and missed lesions) and which cases have no lesion are shown "
               "to the organizers only.")
    return out


def quota_rules() -> list[str]:
    """Sentences on what counts against the submission limits and who may change a team
    (DESIGN section 8; the rules are ``challenge.evaluations.charge`` and
    ``challenge.teams.membership``)."""
    return [
        "Submission limits count per team and per person: a submission counts against its "
        "team and against any team its submitter belongs to, now or later.",
        "A submission counts from its upload and is refunded when the platform fails to "
        f"evaluate it. {CANCEL_RULE} Re-evaluations by the organizers are never charged.",
        "Members can join, leave or be removed by the team's captain only until the team's "
        "first submission; after it, only the organizers can move or remove members. The "
        "captain (the team's longest-standing member) can replace the invite code at any time.",
    ]


def reference_rules(spec: PhaseConfigSpec, raters: list[str]) -> list[str]:
    """Sentences saying how the ranked reference of each case is built (``spec.reference``)
    from the dataset's ``raters`` (none: one reference mask per case), and what the human
    baseline is."""
    if not raters:
        return ["Each case has one reference mask; every metric is computed against it."]
    ref = spec.reference
    n = len(raters)
    built = {
        "consensus": "the consensus mask the organizers provide with the dataset",
        "majority": f"the strict majority vote of the {n} raters (a voxel is lesion when more "
                    f"than half of them, i.e. at least {n // 2 + 1}, marked it)",
        "staple": f"the STAPLE consensus of the {n} raters (SimpleITK's STAPLE filter, "
                  f"Warfield et al. 2004; a voxel is lesion when its estimated probability is "
                  f"at least {ref.staple_threshold:g})",
    }[ref.mode]
    loo = ("the STAPLE consensus of the other raters, with the same threshold"
           if ref.mode == "staple" else
           "the strict majority vote of the other raters (with two others, a voxel both marked)")
    return [
        f"Each case was segmented by {n} raters ({', '.join(raters)}). The ranked metrics are "
        f"computed against {built}.",
        "Each submission is also scored against every rater's own mask, so the spread "
        "between experts is visible; those scores follow the same publication rules as the "
        "ranked per-case scores and are never ranked.",
        f"Human baseline: each rater's mask is scored like a submission against {loo}. "
        "These reference rows are shown on the leaderboard with their 95 % bootstrap "
        "intervals, but are not ranked and take no part in rank intervals or tests.",
    ]
