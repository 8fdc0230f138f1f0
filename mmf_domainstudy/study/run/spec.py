"""A study spec: one yaml file naming a grid of MMF runs and how to report them.

The format is documented in ``projects/domain_study/studies/README.md``. Loading
validates everything that can be checked without running anything, so a typo
fails in a second with the key and the fix instead of hours into a study.
"""
import dataclasses
import os
import re
import string
import sys
from pathlib import Path
from typing import Dict, Optional, Tuple

import yaml

from mmf_domainstudy.utils.errors import BadInput

KNOWN_ANALYSES = ("drift", "similarity", "probe")
REPORT_SPLITS = ("val", "test")

# Fields each template may use; a run fills them in (see plan.py).
PRETRAIN_CONFIG_FIELDS = ("model", "source")
FINETUNE_CONFIG_FIELDS = ("model", "task")
PRETRAIN_FIELDS = ("model", "source", "dataset", "fraction", "seed")
FINETUNE_FIELDS = ("model", "source", "task", "dataset", "fraction", "mode", "seed")
COMMON_FIELDS = ("model", "dataset", "seed")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.]*$")


class SpecError(BadInput, ValueError):
    """A study spec that cannot be run; the message names the file, the key and the fix."""


SOURCE_DOMAINS = ("in", "out")


@dataclasses.dataclass(frozen=True)
class Source:
    name: str
    dataset: Optional[str]  # None: the no-pretraining baseline
    config: Optional[str]
    overrides: Tuple[str, ...]
    domain: Optional[str] = None  # "in": matches the tasks' visual and textual domain; "out": does not
    generated_from: Optional[str] = None  # generated captions (CCG): the real-caption source they imitate

    @property
    def is_baseline(self):
        return self.dataset is None


@dataclasses.dataclass(frozen=True)
class Task:
    name: str
    dataset: str
    metric: str
    config: Optional[str]
    overrides: Tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Slurm:
    gpus_per_run: int
    cpus_per_gpu: int
    timeout_min: int
    mem_gb: Optional[int]
    partition: Optional[str]
    account: Optional[str]
    qos: Optional[str]
    constraint: Optional[str]
    setup: Tuple[str, ...]
    additional: Dict[str, object]


@dataclasses.dataclass(frozen=True)
class AnalysisOptions:
    drift_samples: int  # validation samples the attention maps are compared on, per finetuning run
    similarity_regions: int  # region features drawn per side of the Frechet distance
    probe_samples: int  # train (and at most as many val) samples of a base's head-input probe


@dataclasses.dataclass(frozen=True)
class ReportOptions:
    split: str  # which metrics.json split the tables use


@dataclasses.dataclass(frozen=True)
class PretrainSpec:
    config: Optional[str]  # template; a source's own config wins
    seeds: Tuple[int, ...]  # each pretraining run once per seed
    fractions: Tuple[float, ...]
    fraction_override: Optional[str]
    sources: Dict[str, Source]


@dataclasses.dataclass(frozen=True)
class ExtraGrid:
    """More downstream fractions for some grid points only (e.g. a low-resource fraction for the
    baseline and one source): the listed sources x tasks x modes, each None meaning all."""

    fractions: Tuple[float, ...]
    sources: Optional[Tuple[str, ...]] = None
    tasks: Optional[Tuple[str, ...]] = None
    modes: Optional[Tuple[str, ...]] = None

    def covers(self, source, task, mode):
        return all(names is None or name in names
                   for names, name in ((self.sources, source), (self.tasks, task), (self.modes, mode)))


@dataclasses.dataclass(frozen=True)
class FinetuneSpec:
    config: Optional[str]  # template; a task's own config wins
    seeds: Tuple[int, ...]  # each finetuning run once per seed (and per pretraining seed it starts from)
    fractions: Tuple[float, ...]
    fraction_override: Optional[str]
    tasks: Dict[str, Task]
    modes: Dict[str, Tuple[str, ...]]
    extra: Tuple[ExtraGrid, ...] = ()

    def fractions_of(self, source, task, mode):
        """The downstream fractions one (source, task, mode) runs at: the grid's, plus extra grids'."""
        extra = [f for grid in self.extra if grid.covers(source, task, mode) for f in grid.fractions]
        return tuple(sorted(set(self.fractions) | set(extra)))

    @property
    def all_fractions(self):
        return tuple(sorted(set(self.fractions) | {f for grid in self.extra for f in grid.fractions}))


@dataclasses.dataclass(frozen=True)
class StudySpec:
    path: Path
    name: str
    output_dir: Path
    data_dir: Optional[str]
    command: Tuple[str, ...]
    models: Tuple[str, ...]
    pretrain: PretrainSpec
    finetune: FinetuneSpec
    overlays: Tuple[str, ...]
    overrides: Tuple[str, ...]
    analyses: Tuple[str, ...]
    analysis: AnalysisOptions
    report: ReportOptions
    slurm: Slurm

    @property
    def baseline(self):
        """The source trained from its initial weights only, or None."""
        return next((s for s in self.pretrain.sources.values() if s.is_baseline), None)


def spec_keys(cls, derived=()):
    """The yaml keys of a spec section: its dataclass's fields (one place to add a key)."""
    return tuple(field.name for field in dataclasses.fields(cls) if field.name not in derived)


class _Keys:
    """Reads one mapping of the spec, naming ``file: key`` in every error."""

    def __init__(self, file, prefix, value, allowed, required=()):
        self.file, self.prefix = file, prefix
        if not isinstance(value, dict):
            self.fail(prefix or "the file", f"must be a mapping, got {type(value).__name__}", "")
        unknown = sorted(set(value) - set(allowed))
        if unknown:
            self.fail(self.key(unknown[0]), "is not a known key", f"Allowed here: {', '.join(allowed)}.")
        for key in required:
            if value.get(key) is None:
                self.fail(self.key(key), "is missing", "Add it (see projects/domain_study/studies/README.md).")
        self.value = value

    def key(self, name):
        return f"{self.prefix}.{name}" if self.prefix else str(name)

    def fail(self, key, problem, fix):
        raise SpecError(f"{self.file}: '{key}' {problem}. {fix}".rstrip())

    def get(self, name, default=None):
        value = self.value.get(name)
        return default if value is None else value

    def string(self, name, default=None, fields=None):
        value = self.get(name, default)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            self.fail(self.key(name), f"must be a non-empty string, got {value!r}", "")
        if fields is not None:
            check_template(value, fields, self.file, self.key(name))
        return value

    def string_list(self, name, fields, assignments=False):
        values = self.get(name, [])
        if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
            self.fail(self.key(name), f"must be a list of strings, got {values!r}", "")
        for index, value in enumerate(values):
            key = f"{self.key(name)}[{index}]"
            check_template(value, fields, self.file, key)
            if assignments and "=" not in value:
                self.fail(key, f"is {value!r}, not an MMF override",
                          "Write it as key=value, e.g. training.batch_size=32.")
        return tuple(values)

    def names(self, name):
        values = self.get(name)
        if not isinstance(values, list) or not values:
            self.fail(self.key(name), f"must be a non-empty list, got {values!r}", "")
        for value in values:
            self.check_name(name, value)
        if len(set(values)) != len(values):
            self.fail(self.key(name), f"lists a name twice: {values}", "Remove the duplicate.")
        return tuple(values)

    def check_name(self, name, value):
        if not isinstance(value, str) or not _NAME.match(value):
            self.fail(self.key(name), f"has the name {value!r}", "Names are letters, digits, '_' and '.'.")

    def fractions(self, name):
        values = self.get(name, [1.0])
        if not isinstance(values, list) or not values:
            self.fail(self.key(name), f"must be a non-empty list of fractions, got {values!r}", "")
        for value in values:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
                self.fail(self.key(name), f"has {value!r}", "Fractions are numbers in (0, 1], e.g. [0.1, 0.5, 1.0].")
        floats = tuple(float(v) for v in values)
        if len(set(floats)) != len(floats):
            self.fail(self.key(name), f"lists a fraction twice: {values}", "Remove the duplicate.")
        return floats

    def seeds(self, name, default=None):
        values = self.get(name, default)
        if (not isinstance(values, list) or not values
                or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values)
                or len(set(values)) != len(values)):
            self.fail(self.key(name), f"must be a non-empty list of distinct positive integers, got {values!r}",
                      "rc10 does not seed with 0 and draws a random seed for -1.")
        return tuple(values)

    def integer(self, name, default, minimum):
        value = self.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.fail(self.key(name), f"must be an integer >= {minimum}, got {value!r}", "")
        return value


def check_template(text, fields, file, key):
    """Reject ``{placeholders}`` a run cannot fill, before any run starts."""
    try:
        used = [parsed[1] for parsed in string.Formatter().parse(text) if parsed[1] is not None]
    except ValueError as error:
        raise SpecError(f"{file}: '{key}' is not a valid template ({error}): {text!r}. "
                        "Write literal braces as {{ }}.")
    for field in used:
        if field not in fields:
            raise SpecError(
                f"{file}: '{key}' uses {{{field}}}, which is not known here. "
                f"Available: {', '.join('{' + f + '}' for f in fields) or 'none'}."
            )


def fill(template, **fields):
    """Fill a template checked by check_template."""
    return template.format(**fields)


def expand_path(text, file, key):
    """Expand ``~`` and ``$VARS``; an unset variable is an error, never an empty path."""
    expanded = os.path.expandvars(os.path.expanduser(text))
    if "$" in expanded:
        missing = re.findall(r"\$\{?(\w+)", expanded)
        raise SpecError(f"{file}: '{key}' uses ${missing[0]}, which is not set. Export it or write the path.")
    return expanded


def read_spec_yaml(path, _seen=()):
    """The spec's yaml; with ``extends: other.yaml`` (beside it), merged over that spec, mappings key by key."""
    path = Path(path)
    if path.resolve() in _seen:
        raise SpecError(f"{path}: 'extends' comes back to this file. Remove the cycle.")
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise SpecError(f"{_seen[-1] if _seen else path}: study spec {path} not found. Fix the path.")
    except yaml.YAMLError as error:
        raise SpecError(f"{path}: not valid yaml: {error}\n(Quote values with {{placeholders}} in [...] lists.)")
    if not isinstance(raw, dict) or "extends" not in raw:
        return raw
    base = read_spec_yaml(path.parent / raw.pop("extends"), _seen + (path.resolve(),))
    return _merge(base, raw)


def _merge(base, update):
    if not isinstance(base, dict) or not isinstance(update, dict):
        return update
    merged = dict(base)
    for key, value in update.items():
        merged[key] = _merge(base.get(key), value)
    return merged


def load_spec(path):
    """Read and validate a study spec."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path}: study spec not found. "
                        "Pass a yaml file such as projects/domain_study/studies/demo.yaml.")
    raw = read_spec_yaml(path)
    top = _Keys(path, "", raw, allowed=spec_keys(StudySpec, derived=("path",)),
                required=("name", "output_dir", "models", "pretrain", "finetune"))
    top.check_name("name", raw["name"])
    pretrain, finetune = _read_pretrain(path, raw["pretrain"]), _read_finetune(path, raw["finetune"])
    for index, grid in enumerate(finetune.extra):
        unknown = [name for name in grid.sources or () if name not in pretrain.sources]
        if unknown:
            top.fail(f"finetune.extra[{index}].sources", f"names {unknown[0]!r}, which is not a pretraining source",
                     f"Use names from: {', '.join(pretrain.sources)}.")
    return StudySpec(
        path=path,
        name=raw["name"],
        output_dir=Path(expand_path(top.string("output_dir"), path, "output_dir")).absolute(),
        data_dir=_data_dir(top, path),
        command=_command(top),
        models=top.names("models"),
        pretrain=pretrain,
        finetune=finetune,
        overlays=tuple(expand_path(o, path, "overlays") for o in top.string_list("overlays", fields=())),
        overrides=top.string_list("overrides", fields=COMMON_FIELDS, assignments=True),
        analyses=_read_analyses(top),
        analysis=_read_analysis_options(path, top.get("analysis", {})),
        report=_read_report(path, top.get("report", {})),
        slurm=_read_slurm(path, top.get("slurm", {})),
    )


def _fraction_override(axis, fields):
    if axis.get("fraction_override") is None and axis.fractions("fractions") != (1.0,):
        axis.fail(f"{axis.prefix}.fraction_override", "is missing but fractions other than 1.0 are listed",
                  "Give the override that selects a fraction, e.g. dataset_config.{dataset}.fraction={fraction}.")
    return axis.string("fraction_override", fields=fields)


def _read_pretrain(path, raw):
    pretrain = _Keys(path, "pretrain", raw, spec_keys(PretrainSpec), required=("sources",))
    sources = _read_sources(path, pretrain)
    if any(not s.is_baseline and s.config is None for s in sources.values()) and pretrain.get("config") is None:
        pretrain.fail("pretrain.config", "is missing", "Give a config template such as "
                      "projects/domain_study/configs/{model}/pretrain/{source}.yaml, or a config per source.")
    return PretrainSpec(
        config=pretrain.string("config", fields=PRETRAIN_CONFIG_FIELDS),
        seeds=pretrain.seeds("seeds", default=[1]),
        fractions=pretrain.fractions("fractions"),
        fraction_override=_fraction_override(pretrain, PRETRAIN_FIELDS),
        sources=sources,
    )


def _read_finetune(path, raw):
    finetune = _Keys(path, "finetune", raw, spec_keys(FinetuneSpec), required=("config", "seeds", "tasks"))
    return FinetuneSpec(
        config=finetune.string("config", fields=FINETUNE_CONFIG_FIELDS),
        seeds=finetune.seeds("seeds"),
        fractions=finetune.fractions("fractions"),
        fraction_override=_fraction_override(finetune, FINETUNE_FIELDS),
        tasks=_read_tasks(path, finetune),
        modes=_read_modes(path, finetune),
        extra=_read_extra_grids(path, finetune, raw.get("extra"), raw.get("tasks"), raw.get("modes")),
    )


def _read_extra_grids(path, finetune, raw, tasks, modes):
    if raw is None:
        return ()
    if not isinstance(raw, list):
        finetune.fail("finetune.extra", f"must be a list of grids, got {raw!r}",
                      "e.g. [{fractions: [0.1], sources: [none, vqa_p], modes: [finetuned]}]")
    grids = []
    for index, item in enumerate(raw):
        key = f"finetune.extra[{index}]"
        entry = _Keys(path, key, item, spec_keys(ExtraGrid), required=("fractions",))
        grids.append(ExtraGrid(
            fractions=entry.fractions("fractions"),
            sources=_names_or_all(entry, "sources"),
            tasks=_names_or_all(entry, "tasks", known=tasks),
            modes=_names_or_all(entry, "modes", known=modes or {"finetuned": []}),
        ))
    if finetune.get("fraction_override") is None:
        finetune.fail("finetune.fraction_override", "is missing but finetune.extra lists fractions",
                      "Give the override that selects a fraction, e.g. dataset_config.{dataset}.fraction={fraction}.")
    return tuple(grids)


def _names_or_all(entry, name, known=None):
    if entry.get(name) is None:
        return None
    names = entry.names(name)
    unknown = [n for n in names if known is not None and n not in known]
    if unknown:
        entry.fail(entry.key(name), f"names {unknown[0]!r}, which is not in the grid",
                   f"Use names from: {', '.join(known)}.")
    return names


def _data_dir(top, path):
    text = top.string("data_dir")
    return None if text is None else os.path.abspath(expand_path(text, path, "data_dir"))


def _command(top):
    command = top.get("command", [sys.executable, "-m", "mmf_domainstudy.run"])
    if not isinstance(command, list) or not command or not all(isinstance(c, str) and c for c in command):
        top.fail("command", f"must be a non-empty list of strings, got {command!r}",
                 "It is the Python interpreter and what it runs, e.g. [python, -m, mmf_domainstudy.run].")
    return tuple(command)


def _read_sources(path, pretrain):
    raw = pretrain.get("sources")
    if not isinstance(raw, dict) or not raw:
        pretrain.fail("pretrain.sources", "must be a non-empty mapping of source name to settings", "")
    sources = {}
    for name, settings in raw.items():
        pretrain.check_name("sources", name)
        key = f"pretrain.sources.{name}"
        if settings is None:  # the baseline: no pretraining run
            sources[name] = Source(name, None, None, ())
            continue
        entry = _Keys(path, key, settings, spec_keys(Source, derived=("name",)), required=("dataset",))
        domain = entry.get("domain")
        if domain is not None and domain not in SOURCE_DOMAINS:
            entry.fail(entry.key("domain"), f"is {domain!r}",
                       "Use in (the tasks' visual and textual domain) or out, or leave it out.")
        sources[name] = Source(
            name=name,
            dataset=entry.string("dataset"),
            config=entry.string("config", fields=PRETRAIN_CONFIG_FIELDS),
            overrides=entry.string_list("overrides", fields=PRETRAIN_FIELDS, assignments=True),
            domain=domain,
            generated_from=entry.string("generated_from"),
        )
    for source in sources.values():
        real = sources.get(source.generated_from)
        if source.generated_from is not None and (real is None or real.is_baseline or real is source):
            pretrain.fail(f"pretrain.sources.{source.name}.generated_from", f"is {source.generated_from!r}",
                          "Name the real-caption source these captions imitate, another source of this spec.")
    baselines = [s.name for s in sources.values() if s.is_baseline]
    if len(baselines) > 1:
        pretrain.fail("pretrain.sources", f"has several baselines (null settings): {baselines}",
                      "Keep one source with null settings; it is what every other source is compared with.")
    return sources


def _read_tasks(path, finetune):
    raw = finetune.get("tasks")
    if not isinstance(raw, dict) or not raw:
        finetune.fail("finetune.tasks", "must be a non-empty mapping of task name to settings", "")
    tasks = {}
    for name, settings in raw.items():
        finetune.check_name("tasks", name)
        entry = _Keys(path, f"finetune.tasks.{name}", settings, spec_keys(Task, derived=("name",)),
                      required=("dataset", "metric"))
        tasks[name] = Task(
            name=name,
            dataset=entry.string("dataset"),
            metric=entry.string("metric"),
            config=entry.string("config", fields=FINETUNE_CONFIG_FIELDS),
            overrides=entry.string_list("overrides", fields=FINETUNE_FIELDS, assignments=True),
        )
    return tasks


def _read_modes(path, finetune):
    raw = finetune.get("modes", {"finetuned": []})
    if not isinstance(raw, dict) or not raw:
        finetune.fail("finetune.modes", "must be a non-empty mapping of mode name to a list of overrides",
                      "e.g. {finetuned: [], frozen: ['model_config.{model}.freeze_base=True']}")
    modes = _Keys(path, "finetune.modes", raw, allowed=tuple(raw))
    for name in raw:
        modes.check_name(name, name)
    return {name: modes.string_list(name, fields=FINETUNE_FIELDS, assignments=True) for name in raw}


def _read_analyses(top):
    analyses = top.get("analyses", [])
    if not isinstance(analyses, list) or any(a not in KNOWN_ANALYSES for a in analyses):
        top.fail("analyses", f"is {analyses!r}", f"List any of: {', '.join(KNOWN_ANALYSES)}.")
    return tuple(analyses)


def _read_analysis_options(path, raw):
    options = _Keys(path, "analysis", raw, spec_keys(AnalysisOptions))
    return AnalysisOptions(
        drift_samples=options.integer("drift_samples", 500, minimum=1),
        similarity_regions=options.integer("similarity_regions", 2000, minimum=2),
        probe_samples=options.integer("probe_samples", 2000, minimum=2),
    )


def _read_report(path, raw):
    report = _Keys(path, "report", raw, spec_keys(ReportOptions))
    split = report.get("split", "val")
    if split not in REPORT_SPLITS:
        report.fail("report.split", f"is {split!r}", f"Use one of: {', '.join(REPORT_SPLITS)}.")
    return ReportOptions(split=split)


def _read_slurm(path, raw):
    slurm = _Keys(path, "slurm", raw, spec_keys(Slurm))
    additional = slurm.get("additional", {})
    if not isinstance(additional, dict):
        slurm.fail("slurm.additional", f"must be a mapping of extra sbatch options, got {additional!r}", "")
    mem_gb = slurm.get("mem_gb")
    return Slurm(
        gpus_per_run=slurm.integer("gpus_per_run", 1, minimum=1),
        cpus_per_gpu=slurm.integer("cpus_per_gpu", 10, minimum=1),
        timeout_min=slurm.integer("timeout_min", 72 * 60, minimum=1),
        mem_gb=None if mem_gb is None else slurm.integer("mem_gb", None, minimum=1),
        partition=slurm.string("partition"),
        account=slurm.string("account"),
        qos=slurm.string("qos"),
        constraint=slurm.string("constraint"),
        setup=slurm.string_list("setup", fields=()),
        additional=dict(additional),
    )


def format_fraction(fraction):
    """0.1 -> '0.1', 1 -> '1.0': one spelling per fraction in names and overrides."""
    return repr(float(fraction))
