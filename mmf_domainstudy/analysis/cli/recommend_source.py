"""``domainstudy-recommend-source`` (``tools/recommend_source.py``): rank candidate pretraining
sources for a task before any training, from the data alone.

Examples:
    domainstudy-recommend-source --spec projects/domain_study/studies/demo.yaml --task easy_vqa
    domainstudy-recommend-source --spec projects/domain_study/studies/paper.yaml --task vizwiz \\
        --sources coco vqa_p cc_small --json

The study spec names the sources and tasks with their MMF configs. What is compared is what the
planned runs would train on: the train annotations and feature stores of each composed run config
(the study's similarity analysis reads the same files and computes the same measures: text JSD,
vocabulary overlap, coverage, Frechet distance of region features). Rule: the candidates are ranked
on each measure; a source's score is the mean of its text rank (the four text measures' mean) and
its visual rank, so text and vision weigh the same; lower is better (--json states it in full).
Prints the ranking with every measure; a task or source whose files are missing is one error line
naming them.
"""
import argparse
import json
import sys

from mmf_domainstudy.utils.cli_errors import bad_input_as_one_line
from mmf_domainstudy.utils.tables import markdown_table


def build_parser():
    parser = argparse.ArgumentParser(prog="domainstudy-recommend-source", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spec", required=True,
                        help="study spec yaml naming the sources and tasks, e.g. projects/domain_study/studies/demo.yaml")
    parser.add_argument("--task", required=True, help="a task of the spec's finetune.tasks")
    parser.add_argument("--sources", nargs="+", metavar="SOURCE",
                        help="candidate sources of the spec's pretrain.sources [default: all but the baseline]")
    parser.add_argument("--json", action="store_true", help="print the ranking as JSON, with the measures' definitions")
    return parser


def ranking_table(candidates, measure_names):
    header = ["rank", "source", "score", "text rank", "visual rank", *measure_names]
    rows = [[c.rank, c.source, f"{c.score:.2f}", f"{c.family_ranks['text']:.2f}", f"{c.family_ranks['visual']:.2f}",
             *(f"{c.measures[name]:.4g}" for name in measure_names)] for c in candidates]
    return "\n".join(markdown_table(header, rows))


def as_json(spec, task, candidates):
    from mmf_domainstudy.analysis.measures import MEASURE_DEFINITIONS
    from mmf_domainstudy.analysis.recommend import MEASURE_ORIENTATION, RULE

    return {
        "spec": str(spec.path),
        "task": task,
        "files": f"train files of {spec.models[0]}'s planned runs",
        "regions_per_side": spec.analysis.similarity_regions,
        "rule": RULE,
        "ranking": [{"rank": c.rank, "source": c.source, "score": c.score, "text_rank": c.family_ranks["text"],
                     "visual_rank": c.family_ranks["visual"], "measures": c.measures} for c in candidates],
        "definitions": {name: MEASURE_DEFINITIONS[name] for name in MEASURE_ORIENTATION},
    }


def main(argv=None):
    args = build_parser().parse_args(argv)
    with bad_input_as_one_line():
        from mmf_domainstudy.study.run.spec import load_spec

        spec = load_spec(args.spec)
        import mmf_domainstudy

        mmf_domainstudy.activate()  # MMF composes the run configs
        from mmf_domainstudy.analysis.recommend import MEASURE_ORIENTATION, RULE, rank_sources
        from mmf_domainstudy.study.analyses.candidates import candidate_measures

        candidates = rank_sources(candidate_measures(spec, args.task, args.sources))
    if args.json:
        print(json.dumps(as_json(spec, args.task, candidates), indent=1))
        return 0
    print(f"Task {args.task}: candidate sources ranked from the data alone (train files of {spec.models[0]}'s "
          f"planned runs, {spec.analysis.similarity_regions} regions per side; spec {spec.path})\n")
    print(ranking_table(candidates, list(MEASURE_ORIENTATION)))
    print(f"\nRule: {RULE}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
